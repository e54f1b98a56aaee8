"""`caegen sweep` and `caegen compare`: the commands; the work is in caegen.sweep.runner/compare."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.text import Text

from caegen.cli.app import app, console, err_console, fail, hide_native_logs
from caegen.core.diagnostics import CaegenError


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
    spec_path: Annotated[Path | None, typer.Argument(metavar="SPEC", help="The base spec.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="PATH=VALUES: a,b,c | low..high[:log][:N] | [yaml list]; paths as in the spec "
            "(encoder[2].filters); tie paths with +; layers: on,off; slices: encoder[0:2]*=1,2",
        ),
    ] = None,
    space: Annotated[
        Path | None, typer.Option(help="A YAML file mapping PATH to its values.")
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
    out: Annotated[Path, typer.Option(help="Root folder of sweep directories.")] = Path("sweeps"),
    jobs: Annotated[int, typer.Option(min=1, help="Training processes at once.")] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            envvar="CAEGEN_SWEEP_STORAGE",
            help="A database several processes or machines share: sqlite:///PATH, "
            "postgresql://..., mysql+pymysql://... (default: study.db in the sweep directory).",
        ),
    ] = None,
    worker: Annotated[Path | None, typer.Option(hidden=True)] = None,
    deadline: Annotated[float | None, typer.Option(hidden=True)] = None,
) -> None:
    """Search a space of spec variants; invalid points are rejected before anything is built."""
    from caegen.sweep.runner import SweepConfig, open_existing, open_sweep

    hide_native_logs()
    try:
        if worker is not None:
            _work_as_worker(open_existing(worker, storage), max_trials, deadline)
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
        )
        the_sweep = open_sweep(config)
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    verb = "continuing" if the_sweep.resumed else "new"
    console.print(f"[bold]sweep[/] {the_sweep.folder} ({verb}; {sampler}, {objective})")
    until = time.time() + budget_minutes * 60 if budget_minutes is not None else None
    display = _Display(the_sweep, jobs)
    try:
        with display.live:
            if jobs == 1:
                the_sweep.work(display, until)
            else:
                _run_workers(the_sweep, jobs, max_trials, until, display)
    except KeyboardInterrupt:
        the_sweep.write_reports()
        err_console.print(
            f"[yellow]interrupted[/]: run the same command again to continue {the_sweep.folder}"
        )
        raise typer.Exit(code=130) from None
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    _summary(the_sweep)


def _work_as_worker(the_sweep: Any, max_trials: int | None, deadline: float | None) -> None:
    the_sweep.config.max_trials = max_trials
    try:
        the_sweep.work(None, deadline)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _run_workers(
    the_sweep: Any, jobs: int, max_trials: int | None, until: float | None, display: _Display
) -> None:
    if the_sweep.config.sampler == "grid":
        the_sweep.enqueue_grid()  # once, before the workers start claiming
    cmd = [sys.executable, "-m", "caegen", "sweep", "--worker", str(the_sweep.folder)]
    if max_trials is not None:
        cmd += ["--max-trials", str(max_trials)]
    if until is not None:
        cmd += ["--deadline", str(until)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if the_sweep.config.storage is not None:  # the URL with its password, not on argv
        env["CAEGEN_SWEEP_STORAGE"] = the_sweep.config.storage
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(jobs)
    ]
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
    failed = [p for p in procs if p.returncode not in (0, None)]
    if failed:
        detail = failed[0].stderr.read().decode(errors="replace").strip().splitlines()
        err_console.print(
            f"[yellow]warning[/]: {len(failed)} worker(s) ended with an error: "
            f"{detail[-1] if detail else 'no message'}"
        )
    the_sweep.write_reports()


def _summary(the_sweep: Any) -> None:
    counts = the_sweep.store.counts()
    invalid = counts.get("invalid", 0)
    checks = [t.check_ms for t in the_sweep.store.trials() if t.check_ms is not None]
    console.print(
        f"{counts.get('finished', 0)} finished, {invalid} invalid (rejected statically, "
        f"median {statistics.median(checks) if checks else 0:.0f} ms each), "
        f"{counts.get('failed', 0)} failed"
    )
    best = the_sweep.best()
    if best is not None:
        console.print(
            f"best: trial {best.number} ({the_sweep.config.objective} "
            f"{the_sweep.objective_value(best):.4g}) {_point(best.point)}",
            soft_wrap=True,
        )
        console.print(f"[bold green]wrote[/] {the_sweep.folder / 'best.yaml'}")
    console.print(f"[bold green]wrote[/] {the_sweep.folder / 'leaderboard.csv'}")


class CompareFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"
    markdown = "markdown"


@app.command()
def compare(
    sources: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_OR_SWEEP", help="Run directories, runs/<name>, or sweeps."),
    ],
    format: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="Table format.")
    ] = CompareFormat.text,
    out: Annotated[
        Path | None, typer.Option(help="Write the table and figures to this folder.")
    ] = None,
) -> None:
    """One table of runs' metrics and sizes; with --out, figures too (Pareto front)."""
    from caegen.sweep.compare import collect, render, write_figures

    hide_native_logs()
    try:
        entries = collect(sources)
        table = render(entries, format.value)
        sys.stdout.write(table)
        if out is not None:
            from caegen.core.fsutil import atomic_write_text

            suffix = {"text": "txt", "markdown": "md"}.get(format.value, format.value)
            atomic_write_text(out / f"compare.{suffix}", table)
            for path in write_figures(entries, out):
                err_console.print(f"[bold green]wrote[/] {path}")
    except CaegenError as exc:
        raise fail(exc.diagnostics) from None
    except OSError as exc:
        from caegen.core.fsutil import unwritable

        raise fail(unwritable(f"write to {out}", exc, "pass another --out").diagnostics) from None
