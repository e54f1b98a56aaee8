"""Which runs a comparison covers, read once through `Run`.

Sources are run directories, `runs/<name>` (its latest finished run), sweep directories
(their runs, with each run's recorded point and repeat) and folders of sweeps
(`sweeps/<name>`: its latest sweep). A run that cannot be read (a damaged or missing file,
a metric that is not a number, a run that has not finished) is skipped and listed with the
reason; only a comparison left with no run at all is an error. So is a duplicate (W114): a run
reached twice (two paths, a symlink) or a copy of one (the same spec and seed, the same
per-image scores) counts once, as the first, or the repeats of a group would be inflated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import CaegenError, error
from caegen.core.fsutil import os_error_reason
from caegen.spec.schema import Spec
from caegen.training.rundir import (
    DENOISING_PER_IMAGE_FIELDS,
    FINISHED,
    SPEC,
    SWEEP_RECORD,
    Run,
)

NUMERIC = (
    "psnr",
    "ssim",
    "mse",
    "mae",
    "noisy_input_psnr",
    "noisy_input_ssim",
    "noisy_input_mse",
    "psnr_gain_db",
    "epochs",
    "test_images",
    "test_split_images",
    "images_per_s",
    "train_seconds",
    "auroc",
    "aupro",
)
"""metrics.json keys a comparison reads (with a scored run's AUROC and AUPRO from its
scorer.json): each must be a number or null when present."""


@dataclass
class Skipped:
    path: Path
    reason: str


@dataclass
class Entry:
    """One finished run and everything a comparison needs from it."""

    run: Run
    spec: Spec
    metrics: dict[str, Any]
    params: int
    macs: int
    latent_size: int | None
    history: list[dict[str, Any]]
    per_image: dict[str, Any] | None
    per_image_note: str | None
    """Why paired tests cannot use this run (None when they can)."""
    point: dict[str, Any] | None = None
    """The sweep point it trained (values only), when it comes from a sweep."""
    repeat: int | None = None
    sweep: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.spec.name}/{self.run.path.name}"

    @property
    def seed(self) -> int:
        return self.spec.train.seed

    @property
    def noise_std(self) -> float | None:
        return self.spec.data.noise.stddev if self.spec.data.noise is not None else None

    def metric(self, key: str) -> float | None:
        """A recorded metric as a finite float, or None (absent, null, NaN, infinite)."""
        value = self.metrics.get(key)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)


@dataclass
class Collected:
    entries: list[Entry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    copies: dict[Path, Path] = field(default_factory=dict)
    """Each duplicate's resolved path to the resolved path of the run counted in its place."""


@dataclass
class _Found:
    run: Run
    point: dict[str, Any] | None = None
    repeat: int | None = None
    sweep: Path | None = None


def collect(paths: list[Path], also: tuple[Path, ...] = ()) -> Collected:
    """The finished runs named by `paths`, in order, once each; the others listed (a
    duplicate with W114). Runs of `also` (a --baseline) join them; one that is already
    named, or a copy of one, stands for it silently."""
    out = Collected()
    found: list[tuple[_Found, bool]] = []
    for path, named in [*((Path(p), True) for p in paths), *((Path(p), False) for p in also)]:
        try:
            found += [(item, named) for item in _expand(path, out)]
        except CaegenError as exc:
            out.skipped.append(Skipped(path, _reason(exc)))
    seen: dict[Path, Path] = {}
    for item, named in found:
        where = item.run.path.resolve()
        if where in seen:
            if named:
                out.skipped.append(Skipped(item.run.path, _reached_twice(seen[where])))
            continue
        seen[where] = item.run.path
        entry = _entry(item, out)
        if entry is None:
            continue
        original = _copied_from(entry, out.entries)
        if original is None:
            out.entries.append(entry)
        else:
            out.copies[where] = original.run.path.resolve()
            if named:
                out.skipped.append(Skipped(entry.run.path, _copy_of(original)))
    if not out.entries:
        listing = "; ".join(f"{s.path}: {s.reason}" for s in out.skipped[:5])
        raise error(
            "E052",
            "no finished run to compare" + (f" ({listing})" if listing else ""),
            "pass run directories, runs/<name> or sweep directories",
        )
    return out


def _reason(exc: CaegenError) -> str:
    d = exc.diagnostics[0]
    return f"{d.code} {d.message}"


# --- duplicates ----------------------------------------------------------------------------
RESULTS = ("psnr", "ssim", "mse", "mae", "noisy_input_psnr", "noisy_input_ssim", "auroc", "aupro")
"""The test results compared between runs that have no per-image scores to compare."""


def _reached_twice(first: Path) -> str:
    return f"W114 the same run as {first} (reached twice): counted once"


def _copy_of(original: Entry) -> str:
    what = "per-image scores" if original.per_image is not None else "test metrics"
    return (
        f"W114 a copy of {original.run.path} (the same spec, seed {original.seed} and "
        f"{what}): counted once, not as another repeat"
    )


def _copied_from(entry: Entry, kept: list[Entry]) -> Entry | None:
    """The run `entry` duplicates: the same resolved spec (its name aside), the same seed
    and the same results; None when it is a run of its own."""
    key = _identity(entry)
    return next(
        (e for e in kept if _identity(e) == key and _same_results(entry, e)),
        None,
    )


def _identity(entry: Entry) -> str:
    data = entry.spec.resolved()
    data.pop("name", None)
    return json.dumps(data, sort_keys=True, default=str)


def _same_results(a: Entry, b: Entry) -> bool:
    """Identical per-image scores when both runs have them, else identical test metrics."""
    if a.per_image is not None and b.per_image is not None:
        if set(a.per_image) != set(b.per_image):
            return False
        return all(
            np.array_equal(a.per_image[k], b.per_image[k], equal_nan=True) for k in a.per_image
        )
    return all(_same(a.metrics.get(k), b.metrics.get(k)) for k in RESULTS)


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(x == y)


# --- sources -------------------------------------------------------------------------------
def _expand(path: Path, out: Collected) -> list[_Found]:
    try:
        if (path / SWEEP_RECORD).exists():
            return _sweep_runs(path, out)
        sweeps = _sweeps_in(path)
    except OSError as exc:
        raise error("E052", f"cannot read {path}: {os_error_reason(exc)}") from None
    if sweeps:
        if len(sweeps) > 1:
            out.notes.append(
                f"{path} holds {len(sweeps)} sweeps: compared the latest, {sweeps[-1]}"
            )
        return _sweep_runs(sweeps[-1], out)
    run = Run.find(path, purpose="export")
    if run.path != path:  # runs/<name>: its latest finished run, found by Run.find
        return [_Found(run)]
    status = run.status()
    if status.state != FINISHED:
        raise error("E052", f"not finished: {status.describe()}")
    return [_Found(run)]


def _sweeps_in(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if (p / SWEEP_RECORD).exists())


def _sweep_runs(folder: Path, out: Collected) -> list[_Found]:
    """A sweep's finished runs with their points; the unfinished ones are listed."""
    points = _recorded_points(folder, out)
    runs = sorted(p for p in folder.glob("runs/*/*") if (p / SPEC).exists())
    found = []
    for path in runs:
        run = Run(path)
        try:
            status = run.status()
        except CaegenError as exc:
            out.skipped.append(Skipped(path, _reason(exc)))
            continue
        if status.state != FINISHED:
            out.skipped.append(Skipped(path, f"not finished: {status.describe()}"))
            continue
        point, repeat = points.get(_tail(path), (None, None))
        found.append(_Found(run, point, repeat, folder))
    if not found and not out.skipped:
        raise error("E052", f"the sweep {folder} has no finished run yet", "let it train")
    return found


def _tail(path: Path | str) -> str:
    """runs/<name>/<timestamp>: the same whether a path is stored absolute or relative."""
    parts = Path(path).parts
    return "/".join(parts[-2:])


def _recorded_points(folder: Path, out: Collected) -> dict[str, tuple[dict[str, Any], Any]]:
    """Each trained point and repeat by its run directory, from the sweep's leaderboard."""
    from caegen.sweep.runner import split_repeat

    try:
        rows = json.loads((folder / "leaderboard.json").read_bytes().decode("utf-8"))
        if not isinstance(rows, list):
            raise ValueError("not a list")
        points = {}
        for row in rows:
            if isinstance(row, dict) and row.get("run_dir") and isinstance(row.get("point"), dict):
                values, repeat = split_repeat(row["point"])
                points[_tail(row["run_dir"])] = (values, row.get("repeat", repeat))
        return points
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        out.notes.append(
            f"{folder / 'leaderboard.json'} cannot be read ({exc}): its runs are labelled "
            "by their specs' differences"
        )
        return {}


# --- one run -------------------------------------------------------------------------------
def _entry(item: _Found, out: Collected) -> Entry | None:
    from caegen.compile.compiler import check

    run = item.run
    try:
        spec = run.spec
        metrics = _numeric_metrics(run)
        history = run.history()
        report = check(spec)
    except CaegenError as exc:
        out.skipped.append(Skipped(run.path, _reason(exc)))
        return None
    except OSError as exc:
        out.skipped.append(Skipped(run.path, f"cannot read it: {os_error_reason(exc)}"))
        return None
    per_image, note = _per_image(run, spec, metrics)
    return Entry(
        run=run,
        spec=spec,
        metrics=metrics,
        params=report.params.total,
        macs=report.macs,
        latent_size=report.latent_size,
        history=history,
        per_image=per_image,
        per_image_note=note,
        point=item.point,
        repeat=item.repeat,
        sweep=item.sweep,
    )


def _numeric_metrics(run: Run) -> dict[str, Any]:
    from caegen.score.objective import anomaly_columns

    metrics = {**run.metrics(), **anomaly_columns(run)}
    if "psnr" not in metrics:
        raise error("E059", f"{run.path / 'metrics.json'} is damaged: it has no psnr")
    for key in NUMERIC:
        value = metrics.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise error(
                "E059",
                f"{run.path / 'metrics.json'} is damaged: {key} is {value!r}, not a number",
            )
    return metrics


def _per_image(
    run: Run, spec: Spec, metrics: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        columns = run.per_image()
    except CaegenError as exc:
        return None, _reason(exc)
    if columns is None:
        return None, "no per_image.csv (a run from before per-image scores)"
    if spec.data.noise is not None and not all(f in columns for f in DENOISING_PER_IMAGE_FIELDS):
        return None, "its per_image.csv has no noisy-input scores"
    scored = metrics.get("test_images")
    if isinstance(scored, int) and scored != len(columns["image"]):
        return None, (
            f"its per_image.csv has {len(columns['image'])} rows but metrics.json scored "
            f"{scored} images"
        )
    return columns, None
