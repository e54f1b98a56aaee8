"""`caegen compare`: runs side by side: one table, and figures of quality against size.

Takes run directories, `runs/<name>` (its latest finished run) and sweep directories (their
finished runs). Every number comes from the runs' own files (metrics.json, history.csv,
spec.yaml), read through `Run`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caegen.core.diagnostics import error
from caegen.score.objective import anomaly_columns
from caegen.training.rundir import Run

COLUMNS = (
    "run",
    "params",
    "macs",
    "latent_size",
    "epochs",
    "test_images",
    "psnr",
    "ssim",
    "mse",
    "images_per_s",
    "train_seconds",
)
ANOMALY_COLUMNS = ("auroc", "aupro")
"""Shown when a run was scored for anomalies (`caegen score`)."""


@dataclass
class Entry:
    label: str
    run: Run
    metrics: dict[str, Any]
    params: int
    macs: int
    latent_size: int | None
    history: list[dict[str, Any]]

    def row(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "run": self.label,
            "params": self.params,
            "macs": self.macs,
            "latent_size": self.latent_size,
            "epochs": m.get("epochs"),
            "test_images": m.get("test_images"),
            "psnr": m.get("psnr"),
            "ssim": m.get("ssim"),
            "mse": m.get("mse"),
            "images_per_s": m.get("images_per_s"),
            "train_seconds": m.get("train_seconds"),
            **{name: m[name] for name in ANOMALY_COLUMNS if name in m},
        }


def collect(paths: list[Path]) -> list[Entry]:
    """The finished runs named by `paths` (runs, runs/<name>, sweeps), in order, once each."""
    from caegen.compile.compiler import check

    runs: list[Run] = []
    for path in paths:
        if (Path(path) / "sweep.json").exists():
            found = sorted(p.parent for p in Path(path).glob("runs/*/*/metrics.json"))
            runs += [Run(p) for p in found if Run(p).status().state == "finished"]
            if not found:
                raise error("E052", f"the sweep {path} has no finished run yet", "let it train")
        else:
            runs.append(Run.find(Path(path), purpose="export"))
    entries: list[Entry] = []
    seen: set[Path] = set()
    for run in runs:
        if run.path.resolve() in seen:
            continue
        seen.add(run.path.resolve())
        report = check(run.spec)
        entries.append(
            Entry(
                label=f"{run.spec.name}/{run.path.name}",
                run=run,
                metrics={**run.metrics(), **anomaly_columns(run)},
                params=report.params.total,
                macs=report.macs,
                latent_size=report.latent_size,
                history=run.history(),
            )
        )
    if not entries:
        raise error("E052", "no finished run to compare", "pass run or sweep directories")
    return entries


def pareto(entries: list[Entry], size: str = "params") -> list[Entry]:
    """The runs no other run beats on both PSNR (higher) and size (lower)."""
    front = []
    for e in entries:
        psnr = e.metrics.get("psnr") or float("-inf")
        dominated = any(
            (o.metrics.get("psnr") or float("-inf")) >= psnr
            and getattr(o, size) <= getattr(e, size)
            and (
                (o.metrics.get("psnr") or float("-inf")) > psnr
                or getattr(o, size) < getattr(e, size)
            )
            for o in entries
        )
        if not dominated:
            front.append(e)
    return sorted(front, key=lambda e: getattr(e, size))


# --- the table -----------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(entries: list[Entry], fmt: str = "text") -> str:
    rows = [e.row() for e in entries]
    front = {e.label for e in pareto(entries)}
    columns = [*COLUMNS, *(c for c in ANOMALY_COLUMNS if any(c in r for r in rows))]
    if fmt == "json":
        return json.dumps([{**r, "pareto": r["run"] in front} for r in rows], indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*columns, "pareto"])
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "pareto": r["run"] in front})
        return buf.getvalue()
    header = [*columns, "pareto"]
    cells = [[_fmt(r.get(c)) for c in columns] + ["*" if r["run"] in front else ""] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    line = lambda row: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
    )
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)]) + "\n"


# --- the figures ---------------------------------------------------------------------------
def quality_vs_size(entries: list[Entry], path: Path) -> None:
    from caegen.training.plots import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, size, label in ((axes[0], "params", "parameters"), (axes[1], "macs", "MACs per image")):
        xs = [getattr(e, size) for e in entries]
        ys = [e.metrics.get("psnr") for e in entries]
        ax.scatter(xs, ys, s=28, color="tab:blue", zorder=3)
        for e, x, y in zip(entries, xs, ys):
            ax.annotate(
                e.run.spec.name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        front = pareto(entries, size)
        ax.plot(
            [getattr(e, size) for e in front],
            [e.metrics.get("psnr") for e in front],
            color="tab:red",
            marker="o",
            markersize=7,
            fillstyle="none",
            label="Pareto front",
            zorder=2,
        )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("reconstruction quality against size")
    save_figure(fig, path)


def loss_curves(entries: list[Entry], path: Path) -> None:
    from caegen.training.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for e in entries:
        epochs = [h["epoch"] for h in e.history]
        ax.plot(epochs, [h["val_loss"] for h in e.history], marker="o", markersize=2, label=e.label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def reconstructions(entries: list[Entry], path: Path, n: int = 8) -> None:
    """The same test images (of the first run's data) reconstructed by every run that takes
    that input."""
    import numpy as np

    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays, spread
    from caegen.training.plots import reconstruction_grid

    first = entries[0].run.spec
    test = load_data(first).test
    x, _ = evaluation_arrays(test, first, seed=first.train.seed + 1, indices=spread(len(test), n))
    rows: list[tuple[str, Any]] = [("input", x)]
    for e in entries:
        spec = e.run.spec
        if tuple(spec.input) != tuple(first.input) or spec.data.range != first.data.range:
            continue  # another input: its reconstructions are not of these images
        model = e.run.load_model("autoencoder")
        rows.append((e.run.spec.name, np.asarray(model.predict(x, verbose=0))))
    reconstruction_grid(rows, path, first.data.range)


def write_figures(entries: list[Entry], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "quality_vs_size.png", out / "loss_curves.png", out / "reconstructions.png"]
    quality_vs_size(entries, paths[0])
    loss_curves(entries, paths[1])
    reconstructions(entries, paths[2])
    return paths
