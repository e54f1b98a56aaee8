"""`caegen sweep` and `caegen compare`: the commands; the work is in caegen.sweep.runner/compare."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.text import Text

from caegen.cli.boundary import Input, OutputFolder
from caegen.cli.commands import app, console, err_console, fail, fail_message, hide_native_logs
from caegen.cli.styled import styled
from caegen.core.diagnostics import CaegenError

MAX_REPEATS = 1000


class _Display:
    """One line per trial, and a live status line: counts, best so far, ETA."""

    def __init__(self, sweep: Any, jobs: int) -> None:
        self.sweep = sweep
        self.jobs = jobs
        self.live = Live(Text(""), console=console, transient=True, refresh_per_second=2)

    def status(self) -> Text:
        counts = self.sweep.store.counts()
        done = counts.get("finished", 0)
        parts = [
            f"done {done}",
            f"running {counts.get('running', 0)}",
            f"queued {counts.get('queued', 0)}",
            f"invalid {counts.get('invalid', 0)}",
            f"failed {counts.get('failed', 0)}",
        ]
        best = self.sweep.best()
        if best is not None:
            parts.append(
                f"best #{best.number} {self.sweep.config.objective} "
                f"{self.sweep.objective_value(best):.4g}"
            )
        eta = self.eta(counts)
        if eta is not None:
            parts.append(f"ETA {int(eta // 60)}m{int(eta % 60):02d}s")
        return Text("  ".join(parts), style="bold")

    def eta(self, counts: dict[str, int]) -> float | None:
        seconds = [
            (t.updated or 0) - (t.started or 0)
            for t in self.sweep.store.trials()
            if t.state == "finished" and t.started
        ]
        remaining = counts.get("queued", 0) + counts.get("running", 0)
        if self.sweep.config.sampler != "grid" and self.sweep.config.max_trials:
            remaining = max(remaining, self.sweep.config.max_trials - sum(counts.values()))
        if not seconds or not remaining:
            return None
        return statistics.median(seconds) * remaining / self.jobs

    def queueing(self, done: int, total: int) -> None:
        self.live.update(
            Text(f"checking the grid: {done:,} of {total:,} points ({done / total:.0%})")
        )

    def trial_started(self, trial: Any) -> None:
        self.live.update(self.status())

    def trial_ended(self, trial: Any, sweep: Any) -> None:
        value = sweep.objective_value(trial)
        shown = f"{sweep.config.objective} {value:.4g}" if value is not None else trial.state
        console.print(f"trial {trial.number:>4}  {shown:<18} {_point(trial.point)}", soft_wrap=True)
        self.live.update(self.status())

    def poll(self) -> None:
        self.live.update(self.status())


def _point(point: dict[str, Any]) -> str:
    import json

    return ", ".join(f"{k}={json.dumps(v)}" for k, v in point.items())


@app.command()
def sweep(
    spec_path: Annotated[
        Path | None, typer.Argument(metavar="SPEC", help="The base spec."), Input
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="PATH=VALUES: a,b,c | low..high[:log][:N] | [yaml list]; paths as in the spec "
            "(encoder[2].filters); tie paths with +; layers: on,off; slices: encoder[0:2]*=1,2",
        ),
    ] = None,
    space: Annotated[
        Path | None, typer.Option(help="A YAML file mapping PATH to its values."), Input
    ] = None,
    sampler: Annotated[
        str, typer.Option(help="grid | random | tpe | qmc | cmaes (the last three: Optuna).")
    ] = "grid",
    objective: Annotated[
        str,
        typer.Option(
            help="psnr | ssim | mse (trained), auroc | aupro (trained, then scored for "
            "anomalies) or params | macs (static)."
        ),
    ] = "psnr",
    max_trials: Annotated[
        int | None, typer.Option(min=1, help="Propose at most N points (invalid ones count).")
    ] = None,
    budget_minutes: Annotated[
        float | None, typer.Option(min=0.0, help="Start no new point after this long.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override train.epochs.")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Override train.batch_size.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Train on at most N images.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random samplers.")] = 0,
    out: Annotated[
        Path, typer.Option(help="Root folder of sweep directories."), OutputFolder
    ] = Path("sweeps"),
    jobs: Annotated[int, typer.Option(min=1, help="Training processes at once.")] = 1,
    repeats: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_REPEATS,
            help="Train each valid point K times, each with its own seed derived from the "
            "point and the repeat (recorded); `caegen compare` groups them.",
        ),
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            envvar="CAEGEN_SWEEP_STORAGE",
            help="A database several processes or machines share: sqlite:///PATH, "
            "postgresql://..., mysql+pymysql://... (default: study.db in the sweep directory).",
        ),
    ] = None,
    worker: Annotated[Path | None, typer.Option(hidden=True), Input] = None,
    deadline: Annotated[float | None, typer.Option(hidden=True)] = None,
) -> None:
    """Search a space of spec variants; invalid points are rejected before anything is built."""
    from caegen.sweep.runner import SweepConfig, open_existing, open_sweep

    hide_native_logs()
    try:
        if worker is not None:
            as_worker = open_existing(worker, storage)
            try:
                _work_as_worker(as_worker, max_trials, deadline)
            finally:
                as_worker.close()
            return
        if spec_path is None:
            raise typer.BadParameter("pass the base SPEC")
        config = SweepConfig(
            spec_path=spec_path,
            sets=set_ or [],
            space_file=space,
            sampler=sampler,
            objective=objective,
            max_trials=max_trials,
            budget_minutes=budget_minutes,
            epochs=epochs,
            batch_size=batch_size,
            limit=limit,
            seed=seed,
            out=out,
            storage=storage,
            repeats=repeats,
        )
        the_sweep = open_sweep(config)
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    verb = "continuing" if the_sweep.resumed else "new"
    console.print(
        styled(("sweep", "bold"), f" {the_sweep.folder} ({verb}; {sampler}, {objective})"),
        soft_wrap=True,
    )
    until = time.time() + budget_minutes * 60 if budget_minutes is not None else None
    display = _Display(the_sweep, jobs)
    failed_workers: list[str] = []
    try:
        with display.live, _closing(the_sweep):
            if jobs == 1:
                the_sweep.work(display, until)
            else:
                failed_workers = _run_workers(the_sweep, jobs, max_trials, until, display)
    except KeyboardInterrupt:
        the_sweep.write_reports()
        err_console.print(
            styled(
                ("interrupted", "yellow"),
                f": run the same command again to continue {the_sweep.folder}",
            ),
            soft_wrap=True,
        )
        raise typer.Exit(code=130) from None
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    verdict = _summary(
        the_sweep,
        budget_spent=until is not None and time.time() >= until,
        failed_workers=failed_workers,
    )
    if verdict is not None:
        raise fail([verdict])


@contextmanager
def _closing(the_sweep: Any) -> Iterator[None]:
    try:
        yield
    finally:
        the_sweep.close()


def _work_as_worker(the_sweep: Any, max_trials: int | None, deadline: float | None) -> None:
    the_sweep.config.max_trials = max_trials
    try:
        the_sweep.work(None, deadline)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _run_workers(
    the_sweep: Any, jobs: int, max_trials: int | None, until: float | None, display: _Display
) -> list[str]:
    """Run `jobs` worker processes on the sweep until all have ended; what each failed
    one did (an exit status or a signal, and its last line)."""
    if the_sweep.config.sampler == "grid":
        the_sweep.enqueue_grid(display)  # once, before the workers start claiming
    cmd = [sys.executable, "-m", "caegen", "sweep", "--worker", str(the_sweep.folder)]
    if max_trials is not None:
        cmd += ["--max-trials", str(max_trials)]
    if until is not None:
        cmd += ["--deadline", str(until)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if the_sweep.config.storage is not None:  # the URL with its password, not on argv
        env["CAEGEN_SWEEP_STORAGE"] = the_sweep.config.storage
    logs = the_sweep.folder / "logs"
    logs.mkdir(exist_ok=True)
    procs = []
    for i in range(jobs):  # stderr to a file: a pipe nobody reads would stall a worker
        with (logs / f"worker-{i + 1}.log").open("wb") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log))
    try:
        while any(p.poll() is None for p in procs):
            display.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    the_sweep.write_reports()
    return [
        _worker_failure(i + 1, p.returncode, logs / f"worker-{i + 1}.log")
        for i, p in enumerate(procs)
        if p.returncode != 0
    ]


def _worker_failure(number: int, returncode: int, log: Path) -> str:
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"ended with exit status {returncode}"
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    return f"worker {number} {how}" + (f" ({lines[-1].strip()})" if lines else f" (see {log})")


def _summary(the_sweep: Any, *, budget_spent: bool, failed_workers: list[str]) -> Any:
    """Print how the sweep stands; the diagnostic that makes its exit non-zero, if any."""
    if the_sweep.config.sampler != "grid" and (the_sweep.stopped or the_sweep.search_over()):
        console.print(f"search ended: {the_sweep.stopped}", soft_wrap=True)
    tally = the_sweep.tally()
    checks = [t.check_ms for t in the_sweep.store.trials() if t.check_ms is not None]
    console.print(
        f"{tally['finished']} finished, {tally['invalid']} invalid (rejected statically, "
        f"median {statistics.median(checks) if checks else 0:.0f} ms each), "
        f"{tally['failed']} failed, {tally['queued']} queued, "
        f"{tally['running'] + tally['interrupted']} running, {tally['orphaned']} orphaned"
        + (
            " (the budget ran out: run the same command again to go on)"
            if budget_spent and tally["queued"]
            else ""
        )
    )
    best = the_sweep.best()
    if best is not None and the_sweep.config.repeats > 1:
        from caegen.sweep.runner import split_repeat

        mean, n = the_sweep.point_mean(best)
        console.print(
            f"best by mean: {_point(split_repeat(best.point)[0])} ({the_sweep.config.objective} "
            f"{mean:.4g} over {n} repeat(s)); `caegen compare {the_sweep.folder}` tests whether "
            "its lead is distinguishable",
            soft_wrap=True,
        )
    elif best is not None:
        console.print(
            f"best: trial {best.number} ({the_sweep.config.objective} "
            f"{the_sweep.objective_value(best):.4g}) {_point(best.point)}",
            soft_wrap=True,
        )
        console.print(styled(("wrote", "bold green"), f" {the_sweep.folder / 'best.yaml'}"))
    console.print(styled(("wrote", "bold green"), f" {the_sweep.folder / 'leaderboard.csv'}"))
    return the_sweep.verdict(tally, budget_spent=budget_spent, failed_workers=failed_workers)


class CompareFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class CompareMetric(str, Enum):
    psnr = "psnr"
    ssim = "ssim"
    mse = "mse"


class CompareTable(str, Enum):
    runs = "runs"
    groups = "groups"
    pairs = "pairs"


@app.command()
def compare(
    sources: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_OR_SWEEP", help="Run directories, runs/<name>, or sweeps."),
        Input,
    ],
    format: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="Table format.")
    ] = CompareFormat.text,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the tables and figures to this folder (never inside a run)."),
        OutputFolder,
    ] = None,
    metric: Annotated[
        CompareMetric,
        typer.Option(help="What pairs are tested and groups ranked on (denoisers: its gain)."),
    ] = CompareMetric.psnr,
    baseline: Annotated[
        str | None,
        typer.Option(help="Test each group against this one: a run directory, G<n> or a label."),
    ] = None,
    table: Annotated[
        CompareTable, typer.Option(help="Which table --format csv prints.")
    ] = CompareTable.runs,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap resampling.")] = 0,
    inspect_layer: Annotated[
        str | None,
        typer.Option(
            "--inspect",
            metavar="LAYER",
            help="With --out: this layer's filters and feature maps in every run, on one image.",
        ),
    ] = None,
    inspect_image: Annotated[
        int, typer.Option(min=0, help="The test image --inspect feeds (of the first run's data).")
    ] = 0,
) -> None:
    """Runs side by side: repeats grouped (mean, 95% CI), groups paired on the same images."""
    from caegen.sweep.compare import compare as run_comparison
    from caegen.sweep.compare import refuse_out_in_run, render

    if inspect_layer is not None and out is None:
        raise typer.BadParameter("--inspect draws a figure: pass --out DIR")
    if inspect_layer is not None and not inspect_layer.strip():  # as inspect --layers ""
        raise fail_message(
            "E090", "--inspect names no layer", "name one layer, e.g. --inspect encoder.0"
        )
    hide_native_logs()
    try:
        if out is not None:
            refuse_out_in_run(out)
        result = run_comparison(sources, metric.value, baseline, seed)
        if out is not None:
            refuse_out_in_run(out, result.entries)
        report = render(result, format.value, table.value)
        sys.stdout.write(report)
        if format is CompareFormat.csv:
            for s in result.skipped:
                err_console.print(
                    styled(("skipped", "yellow"), f" {s.path}: {s.reason}"), soft_wrap=True
                )
        if out is not None:
            figure = None
            if inspect_layer is not None:  # drawn first: a layer no run has writes nothing
                from caegen.inspect.compare import layer_figure

                runs = [e.run for e in result.entries]
                figure = layer_figure(runs, inspect_layer, inspect_image)
            _write_comparison(result, format.value, report, out)
            if figure is not None:
                from caegen.inspect.compare import write_figure

                path = write_figure(figure, out / f"inspect_{inspect_layer}.png")
                err_console.print(styled(("wrote", "bold green"), f" {path}"), soft_wrap=True)
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    except OSError as exc:
        from caegen.core.fsutil import unwritable

        raise fail(unwritable(f"write to {out}", exc, "pass another --out").diagnostics) from None


def _write_comparison(result: Any, fmt: str, report: str, out: Path) -> None:
    from caegen.core.fsutil import atomic_write_text
    from caegen.sweep.compare import render, write_figures

    suffix = {"text": "txt", "markdown": "md"}.get(fmt, fmt)
    if fmt == "csv":
        for name in ("runs", "groups", "pairs"):
            atomic_write_text(out / f"{name}.csv", render(result, "csv", name))
    else:
        atomic_write_text(out / f"compare.{suffix}", report)
    if fmt != "json":
        atomic_write_text(out / "compare.json", render(result, "json"))
    paths, problems = write_figures(result, out)
    for problem in problems:
        err_console.print(styled(("warning", "yellow"), f": {problem}"), soft_wrap=True)
    for path in paths:
        err_console.print(styled(("wrote", "bold green"), f" {path}"), soft_wrap=True)
