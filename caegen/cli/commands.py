"""Typer commands. Each declares its options and calls one library function."""

from __future__ import annotations

import json
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from caegen.cli import terminal
from caegen.cli.boundary import (
    CaegenGroup,
    CaegenTyper,
    Input,
    OutputFile,
    OutputFolder,
)
from caegen.cli.consoles import console, err_console
from caegen.cli.failures import report
from caegen.cli.streams import real_stream
from caegen.cli.styled import styled
from caegen.core.diagnostics import CaegenError, Diagnostic, Location, error
from caegen.core.limits import MAX_BATCH, MAX_EPOCHS, MAX_SEED

if TYPE_CHECKING:
    from caegen.compile.fixes import FixResult
    from caegen.spec.schema import Spec
    from caegen.training.options import RunResult, TrainOptions

app = CaegenTyper(
    name="caegen",
    help="A declarative config-to-model compiler for convolutional autoencoders.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=CaegenGroup,  # every command runs inside the boundary (caegen.cli.boundary)
)


class Format(str, Enum):
    text = "text"
    json = "json"


def hide_native_logs() -> None:
    """Drop what TensorFlow's native libraries print on file descriptor 2 at start-up.

    absl and the CUDA stub write there whatever TF_CPP_MIN_LOG_LEVEL says. Python's own
    sys.stderr (our messages, tracebacks) is moved to a copy of the original descriptor.
    An explicit TF_CPP_MIN_LOG_LEVEL below 3 keeps everything.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") != "3" or not hasattr(os, "dup2"):
        return
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing across models
    stream = real_stream(sys.stderr)
    if stream is None or stream is not sys.__stderr__:  # redirected (tests, embedding): leave it
        return
    try:
        stream.flush()
        original = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        replacement = os.fdopen(original, "w", buffering=1)
    except (OSError, ValueError):  # no real descriptor 2 (e.g. captured in tests)
        return
    if stream is not sys.stderr:  # the boundary's guard: replace what it guards
        sys.stderr.inner = replacement  # type: ignore[union-attr]
    else:
        sys.stderr = replacement


def fail(diagnostics: list[Diagnostic]) -> typer.Exit:
    """Print the diagnostics of a user mistake and return the exit to raise."""
    report(diagnostics)
    return typer.Exit(code=1)


def fail_message(
    code: str, message: str, hint: str | None = None, file: str | None = None
) -> typer.Exit:
    return fail([Diagnostic(code, message, Location(file), hint)])


def _print_version(value: bool) -> None:
    if value:
        from caegen.core.version import __version__

        console.print(f"caegen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """A declarative config-to-model compiler for convolutional autoencoders."""


@app.command()
def check(
    specs: Annotated[
        list[Path],
        typer.Argument(metavar="SPEC", help="Spec files to check.", show_default=False),
        Input,
    ],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
    table: Annotated[bool, typer.Option(help="Print the layer table.")] = True,
    ignore: Annotated[
        str | None,
        typer.Option(help="Warning/info codes to leave out, comma-separated (e.g. W105,I108)."),
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            help="Report only warnings/infos whose code starts with one of these (e.g. W1)."
        ),
    ] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Apply safe fixes to the files.")] = False,
    unsafe_fixes: Annotated[
        bool, typer.Option("--unsafe-fixes", help="With --fix: apply model-changing fixes too.")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print the fixes as a unified diff; change nothing.")
    ] = False,
) -> None:
    """Validate specs statically: wiring, shapes, dead branches, lints, exact params."""
    from caegen.cli.checker import check_files, code_mistakes
    from caegen.cli.failures import USAGE

    mistakes = code_mistakes(ignore, select)
    if diff and format == Format.json:  # a diff is what --diff prints: never mistaken for JSON
        mistakes.append(
            Diagnostic(
                "E077",
                "--diff prints a unified diff, not JSON",
                Location(),
                "drop --format json, or check with --format json after the fixes",
            )
        )
    if mistakes:  # before any fix is made with them
        report(mistakes)
        raise typer.Exit(code=USAGE)
    failed: dict[Path, list[Diagnostic]] = {}
    if fix or diff:  # --unsafe-fixes alone writes nothing: it only widens --fix and --diff
        failed, clean = _apply_fixes(
            specs, unsafe=unsafe_fixes, write=not diff, ignore=ignore, select=select, strict=strict
        )
        if diff:  # 1 while the check would fail after the fixes it shows
            raise typer.Exit(code=0 if clean else 1)
    code = check_files(
        specs,
        json_format=format == Format.json,
        strict=strict,
        table=table,
        ignore=ignore,
        select=select,
        failed_fixes=failed,  # a fix --fix could not write fails its spec's report
    )
    raise typer.Exit(code=code)


def _apply_fixes(
    specs: list[Path],
    *,
    unsafe: bool,
    write: bool,
    ignore: str | None,
    select: str | None,
    strict: bool,
) -> tuple[dict[Path, list[Diagnostic]], bool]:
    """Fix each spec (or print the diff of its fixes); say on stderr what was fixed, what
    was held back, and when there was nothing to fix (stdout carries the diff alone). A spec
    that cannot be read or written does not stop the others. What kept each spec from being
    fixed (with `--diff`, reported here; with `--fix`, by the check that follows), and
    whether every spec was read and would pass the check after the fixes."""
    from caegen.cli.checker import codes
    from caegen.compile.fixes import fix_file

    failed: dict[Path, list[Diagnostic]] = {}
    clean = True
    for path in specs:
        try:
            result = fix_file(
                path, unsafe=unsafe, write=write, ignore=codes(ignore) or [], select=codes(select)
            )
        except CaegenError as exc:
            clean = False
            if not write:
                report(exc.diagnostics)
            elif any(d.code != "E001" for d in exc.diagnostics):  # E001: the check says it
                failed[path] = exc.diagnostics
            continue
        if not write:
            sys.stdout.write(result.diff(str(path)))
        for note in fix_notes(str(path), result, write=write):
            err_console.print(note, soft_wrap=True, highlight=False)
        clean = clean and result.passes(strict)
    return failed, clean


def fix_notes(path: str, result: FixResult, *, write: bool) -> list[str]:
    """What `--fix` (`write`) or `--diff` says about one spec besides the diff."""
    notes = []
    if write and result.applied:
        notes.append(f"fixed {path}: " + "; ".join(result.applied))
    held = result.held_back
    if held:
        n = len(held)
        places = ", ".join(_place(d) for d in held[:4]) + (f" and {n - 4} more" if n > 4 else "")
        what = f"{n} model-changing fix{'es' if n > 1 else ''} ({places})"
        if result.changed:
            notes.append(
                f"{path}: {what} held back; --unsafe-fixes applies {'them' if n > 1 else 'it'}"
            )
        else:
            notes.append(
                f"no safe fixes in {path}; {what} need{'' if n > 1 else 's'} --unsafe-fixes"
            )
    unfixable = [d for d in result.errors_left if d not in held]
    if not write and unfixable:
        n = len(unfixable)
        places = ", ".join(_place(d) for d in unfixable[:4]) + (
            f" and {n - 4} more" if n > 4 else ""
        )
        notes.append(f"{path}: no fix for {n} error{'s' if n > 1 else ''} ({places})")
    elif not write and not result.changed and not held:
        notes.append(f"nothing to fix in {path}")
    return notes


def _place(d: Diagnostic) -> str:
    return d.code + (f" at {d.location.line}:{d.location.column or 1}" if d.location.line else "")


@app.command()
def summary(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file."), Input],
    keras: Annotated[
        bool, typer.Option("--keras", help="Also build the Keras model and compare.")
    ] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """The exact parameter summary: per layer and total, MACs, memory, latent, compression."""
    from caegen.compile.compiler import check as check_spec
    from caegen.spec.loader import load

    try:
        report = check_spec(load(spec_path))
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    if not report.ok:
        raise fail(report.diagnostics)  # the warnings explain errors too (e.g. W109)
    agreements = None
    if keras:
        hide_native_logs()
        from caegen.compile.memory import check_model_memory
        from caegen.emit.keras_model import build, compare_with_keras

        assert report.spec is not None
        try:
            check_model_memory(report)
        except CaegenError as exc:
            raise fail(exc.diagnostics) from None
        agreements = compare_with_keras(build(report.spec, report=report))
    if format == Format.json:
        out = report.to_dict()
        if agreements is not None:
            out["keras"] = {
                "agrees": all(a.agrees for a in agreements),
                "layers": [
                    {
                        "name": a.name,
                        "output_shape": list(a.keras_shape or ()),
                        "params": {
                            "trainable": a.keras_params[0],
                            "non_trainable": a.keras_params[1],
                        },
                        "agrees": a.agrees,
                    }
                    for a in agreements
                ],
            }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        from caegen.cli.render import print_diagnostic, summary_table, summary_totals

        console.print(summary_table(report, agreements), soft_wrap=True)
        console.print()
        for line in summary_totals(report):
            if line:
                console.print(line, soft_wrap=True)
        if agreements is not None:
            bad = [a.name for a in agreements if not a.agrees]
            console.print(
                styled((f"Keras disagrees on {', '.join(bad)}", "red"))
                if bad
                else styled((f"Keras agrees on all {len(agreements)} layers", "green"))
            )
        console.file.flush()
        source = report.spec.source.text if report.spec and report.spec.source else None
        for d in report.diagnostics:  # warnings and infos: the summary does not hide them
            print_diagnostic(terminal.stderr, d, source)
    if agreements is not None and not all(a.agrees for a in agreements):
        raise typer.Exit(code=1)


@app.command()
def train(
    spec_path: Annotated[
        Path | None,
        typer.Argument(metavar="SPEC", help="The spec file (optional with --resume)."),
        Input,
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, max=MAX_EPOCHS, help="Override train.epochs.")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Override train.batch_size."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Root folder of run directories."), OutputFolder] = Path(
        "runs"
    ),
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run directory to --epochs."), Input
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, max=MAX_SEED, help="Override train.seed.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use at most N train images.")] = None,
    eval_limit: Annotated[
        int | None,
        typer.Option("--eval-limit", min=1, help="Score on at most N test images (default: all)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the resolved run (data, batch, strategy, precision) and exit.",
        ),
    ] = False,
    strategy: Annotated[
        str,
        typer.Option(
            help="auto | one | mirrored | multi-worker (auto: multi-worker when TF_CONFIG "
            "names several tasks, mirrored on several GPUs, else one device)."
        ),
    ] = "auto",
    local_workers: Annotated[
        int | None,
        typer.Option(
            "--local-workers",
            min=2,
            max=64,
            help="Start N worker processes on this machine (a multi-worker job).",
        ),
    ] = None,
    tensorboard_filters: Annotated[
        bool,
        typer.Option(
            "--tensorboard-filters",
            help="At the end, draw each convolution's filters and feature maps into the run's "
            "TensorBoard folder (as `caegen inspect RUN --tensorboard`).",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="Change the spec for this run, with the sweep's paths "
            "(train.optimizer.learning_rate=1.0e-3, data.source=patches, encoder[3]=off); "
            "repeatable; recorded in the run's spec.yaml.",
        ),
    ] = None,
) -> None:
    """Train a spec on its data; writes runs/<name>/<timestamp>/."""
    from caegen.cli.progress import RichProgress
    from caegen.training.options import TrainOptions

    hide_native_logs()
    if local_workers is not None:
        _launch_local_workers(local_workers, resume, dry_run)
    try:
        _check_cluster(strategy, dry_run)  # TF_CONFIG and this worker's port, before any work
        spec = _spec_to_train(spec_path, set_ or [])
        if spec is None and resume is None:
            raise typer.BadParameter("pass a SPEC, or --resume RUN_DIR")
        options = TrainOptions(
            epochs=epochs,
            batch_size=batch_size,
            out=out,
            resume=resume,
            seed=seed,
            limit=limit,
            eval_limit=eval_limit,
            progress=RichProgress(console),
            strategy=strategy,
        )
        if dry_run:
            _print_dry_run(spec, options)
            return
        result = _train_with_progress(spec, options)
        if result.metrics and tensorboard_filters:
            _draw_layers_to_tensorboard(result.run_dir)
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    except KeyboardInterrupt as exc:
        err_console.print(
            styled(("interrupted", "yellow"), f": {_interrupted_message(exc)}"), soft_wrap=True
        )
        raise typer.Exit(code=130) from None
    if result.metrics:  # a worker other than the chief: the chief reports
        console.print(_metrics_line(result.metrics))
        console.print(styled(("wrote", "bold green"), f" {result.run_dir}"), soft_wrap=True)


def _spec_to_train(spec_path: Path | None, sets: list[str]) -> Spec | None:
    """The spec file, changed by `--set PATH=VALUE` arguments (None: no spec given)."""
    from caegen.spec.loader import load

    if not sets:
        return load(spec_path) if spec_path is not None else None
    if spec_path is None:
        raise error(
            "E061",
            "--set changes a spec, and a resumed run keeps the one it was trained with",
            "pass a SPEC with --set to start a new run, or resume with only --epochs",
        )
    from caegen.sweep.overrides import with_sets

    return with_sets(spec_path, sets)


def _train_with_progress(spec: Spec | None, options: TrainOptions) -> RunResult:
    from caegen.training.trainer import train as run_training

    try:
        return run_training(spec, options)
    finally:
        options.progress.stop()


def _draw_layers_to_tensorboard(run_dir: Path) -> None:
    from caegen.inspect.inspector import inspect as draw_layers

    drawn = draw_layers(run_dir, tensorboard=True)
    console.print(
        styled(("wrote", "bold green"), f" filters and feature maps to {drawn.tensorboard}"),
        soft_wrap=True,
    )


def _metrics_line(m: dict[str, Any]) -> str:
    """The one line `caegen train` ends with: the test metrics and what they were scored on."""
    line = (
        f"test PSNR {m['psnr']:.2f} dB (mean-image baseline {m['baseline_mean_image_psnr']:.2f} dB)"
    )
    if m.get("ssim") is not None:
        line += f", SSIM {m['ssim']:.3f}"
    if "noisy_input_psnr" in m:
        line += f"; noisy input {m['noisy_input_psnr']:.2f} dB (+{m['psnr_gain_db']:.2f} dB)"
    settled = m.get("batch_norm_recalibration") or {}
    if settled.get("applied"):
        line += f"; batch norm settled (moving averages: {settled['before']['psnr']:.2f} dB)"
    split = m.get("test_split_images")
    line += f"; on {m['test_images']:,} test images"
    if split and split != m["test_images"]:
        line += f" of {split:,} (--eval-limit)"
    return line


def _check_cluster(strategy: str, dry_run: bool) -> None:
    """A malformed TF_CONFIG (E068) or a port another process holds (E078) is said first."""
    from caegen.training.distribute import worker_cluster

    cluster = worker_cluster(strategy)
    if cluster is not None and not dry_run:
        cluster.check_port()


def _launch_local_workers(workers: int, resume: Path | None, dry_run: bool) -> None:
    """Re-run this command as `workers` processes of one multi-worker job; exit with the
    chief's code."""
    from caegen.training.launcher import launch

    if resume is not None or dry_run:
        raise fail_message(
            "E068",
            "--local-workers starts a job; it does not combine with "
            + ("--resume" if resume is not None else "--dry-run"),
            "run the same --local-workers command again to continue an interrupted job",
        )
    args = sys.argv[sys.argv.index("train") + 1 :]
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--local-workers", "--strategy"):
            skip = True  # and its value
        elif not arg.startswith(("--local-workers=", "--strategy=")):
            kept.append(arg)
    raise typer.Exit(code=launch(kept, workers))


def _print_dry_run(spec: Spec | None, options: TrainOptions) -> None:
    from caegen.training.trainer import dry_run

    if spec is None or options.resume is not None:
        raise typer.BadParameter("--dry-run takes a SPEC (not --resume)")
    plan = dry_run(spec, options)
    width = max(map(len, plan))
    for key, value in plan.items():
        shown = ", ".join(value) if isinstance(value, tuple) else value
        console.print(f"{key:<{width}}  {shown}", soft_wrap=True, highlight=False)


def _interrupted_message(exc: KeyboardInterrupt) -> str:
    run_dir, epoch = getattr(exc, "run_dir", None), getattr(exc, "epoch", 0)
    if run_dir is None:
        return "stopped before a run directory was created; nothing was written"
    if not epoch:
        return f"no epoch had finished, so nothing was kept ({run_dir} records the stop)"
    from caegen.training.rundir import Run

    if Run(Path(run_dir)).job() is not None:
        return f"epoch {epoch} is checkpointed in {run_dir}; run the same command to continue"
    return (
        f"epoch {epoch} is checkpointed in {run_dir}; continue with "
        f"`caegen train --resume {run_dir} --epochs N`"
    )


class Part(str, Enum):
    autoencoder = "autoencoder"
    encoder = "encoder"
    decoder = "decoder"
    scorer = "scorer"


@app.command()
def export(
    source: Annotated[
        Path,
        typer.Argument(metavar="RUN_OR_SPEC", help="A run directory, runs/<name>, or a spec."),
        Input,
    ],
    path: Annotated[
        Path | None,
        typer.Argument(metavar="[PATH]", help="Where to write the ONNX file."),
        OutputFile,
    ] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the format).")] = False,
    part: Annotated[Part, typer.Option(help="Which model to export.")] = Part.autoencoder,
    opset: Annotated[int, typer.Option(help="ONNX opset (13-18).")] = 15,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="Max abs difference allowed between ONNX and Keras.")
    ] = 1e-4,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Export a trained run (or a spec, untrained) to ONNX, verified against Keras."""
    if not onnx:
        raise fail_message("E056", "choose an export format", "pass --onnx")
    from caegen.export.onnx_export import export_onnx

    hide_native_logs()
    try:
        result = export_onnx(
            source, path, part=part.value, opset=opset, tolerance=tolerance, force=force
        )
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    for warning in result.warnings:
        err_console.print(styled(("warning", "yellow"), f": {warning}"), soft_wrap=True)
    console.print(
        styled(
            ("wrote", "bold green"),
            f" {result.path} ({result.part}, opset {opset}, "
            f"{'trained' if result.trained else 'untrained'})",
        ),
        soft_wrap=True,
    )
    console.print(f"checked  onnx.checker passed; compared on {result.inputs}")
    console.print(f"max |onnx - keras|  {result.max_abs_diff:.3g} (tolerance {tolerance:g})")
    console.print(
        f"latency  keras {result.keras_ms_per_batch:.2f} ms, onnxruntime "
        f"{result.onnx_ms_per_batch:.2f} ms per batch of {result.batch_size} "
        f"({result.keras_ms_per_batch / max(result.onnx_ms_per_batch, 1e-9):.1f}x)"
    )


@app.command()
def schema(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write it to this file (e.g. caegen.schema.json)."),
        OutputFile,
    ] = None,
) -> None:
    """Print the JSON Schema of the spec language (for editor completion)."""
    from caegen.spec.templates import schema_text

    if out is None:
        sys.stdout.write(schema_text())
        return
    from caegen.core.fsutil import atomic_write_text, unwritable

    try:
        atomic_write_text(out, schema_text())
    except OSError as exc:
        raise fail(unwritable(f"write {out}", exc, "pass another --out PATH").diagnostics) from None
    console.print(f"wrote {out}; point a spec at it with `{_modeline(out)}`", soft_wrap=True)


def _modeline(path: Path) -> str:
    from caegen.spec.templates import MODELINE

    return f"{MODELINE}{path.name}"


@app.command()
def init(
    template: Annotated[str, typer.Argument(help="A template name (see --list).")] = "quickstart",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write (default: NAME.yaml)."),
        OutputFile,
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the templates.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter spec from the shipped templates."""
    from caegen.core.fsutil import unwritable, write_new_text
    from caegen.spec import templates

    names = templates.names()
    if list_:
        width = max(map(len, names))
        for name in names:
            console.print(f"{name:<{width}}  {templates.description(name)}", soft_wrap=True)
        return
    if template not in names:
        import difflib

        close = difflib.get_close_matches(template, names, n=1)
        raise fail_message(
            "E051",
            f"no template named `{template}`",
            (f"did you mean `{close[0]}`? " if close else "") + "run `caegen init --list`",
        )
    target = out or Path(f"{template}.yaml")
    try:
        write_new_text(target, templates.text(template, templates.SCHEMA_FILE), force=force)
        schema_note = templates.write_schema_beside(target)
    except FileExistsError:
        raise fail_message(
            "E050", f"{target} already exists; not overwriting it", "pass --force or --out PATH"
        ) from None
    except OSError as exc:
        raise fail(
            unwritable(f"write {target}", exc, "pass another --out PATH").diagnostics
        ) from None
    console.print(f"wrote {target} (template `{template}`); next: caegen check {target}")
    console.print(schema_note, soft_wrap=True)


def main() -> None:
    # The CLI uses no pydantic plugins; skipping their entry-point scan saves ~45 ms of
    # every `caegen check`. Library users keep theirs (this is set only here).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # A reader that goes away (`caegen init --list | head`) ends caegen the way it ends
    # `cat`: by SIGPIPE, silently. (Python's default turns it into an exit 1 or a traceback.)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()
