"""What every ONNX export shares: its result, the real inputs it is verified on, and
timing; and the checked path it is written to."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import CaegenError, error
from caegen.core.fsutil import ensure_parent, unwritable
from caegen.spec.schema import Spec


@dataclass
class ExportResult:
    path: Path
    part: str
    trained: bool
    max_abs_diff: float
    tolerance: float
    inputs: str
    """What the comparison ran on."""
    samples: int
    batch_size: int
    keras_ms_per_batch: float
    onnx_ms_per_batch: float
    metadata: dict[str, str]
    warnings: list[str]


def comparison_inputs(
    spec: Spec, models: dict[str, Any], part: str, limit: int = 256
) -> tuple[np.ndarray, str, list[str], float | None]:
    """Real inputs for the part: the spec's test images (noisy for a denoiser); and what
    the data's values were divided by (None when the data are not on this machine)."""
    import tensorflow as tf

    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays, spread, undecodable

    warnings: list[str] = []
    scale = None
    try:
        splits = load_data(spec)
    except CaegenError as exc:  # e.g. the dataset is not on this machine
        rng = np.random.default_rng(0)
        low = -1.0 if spec.data.range == "symmetric" else 0.0
        images = rng.uniform(low, 1.0, (64, *spec.input)).astype(np.float32)
        what = "64 seeded random images"
        warnings.append(f"data unavailable ({exc.diagnostics[0].message}); compared on {what}")
    else:
        indices = spread(len(splits.test), limit)
        try:
            images, _ = evaluation_arrays(
                splits.test, spec, seed=spec.train.seed + 1, indices=indices
            )
        except tf.errors.OpError as exc:  # a damaged image file: name it, do not guess
            raise undecodable(exc, spec, splits.test.files) from None
        what = f"{len(images)} test images ({splits.description})"
        scale = splits.scale
    if part == "decoder":
        images = models["encoder"].predict(images, batch_size=64, verbose=0)
        what = f"latent codes of {what}"
    return images.astype(np.float32), what, warnings, scale


def median_ms(run: Any, batches: list[np.ndarray], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        for batch in batches:
            start = time.perf_counter()
            run(batch)
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def writable_target(target: Path, spec: Spec, part: str, force: bool) -> None:
    """Refuse a directory or (without `force`) an existing file; create the parent folder."""
    try:
        target_is_dir, target_exists = target.is_dir(), target.exists()
    except OSError as exc:  # e.g. a file name longer than the file system allows
        raise unwritable(f"write {target}", exc, "pass another PATH") from None
    if target_is_dir:
        raise error(
            "E057",
            f"cannot write {target}: it is a directory",
            f"pass a file path, e.g. {target / (spec.name + '-' + part + '.onnx')}",
        )
    if target_exists and not force:
        raise error(
            "E050", f"{target} already exists; not overwriting it", "pass --force, or another path"
        )
    try:
        ensure_parent(target)
    except OSError as exc:
        raise unwritable(f"write {target}", exc, "pass another PATH") from None


def refuse_run_files(target: Path, run_dir: Path) -> None:
    """E080 when `target` would replace a file of the run other than an ONNX export of it
    (its models, checkpoints, spec): --force replaces exports, never the run itself."""
    path, root = target.resolve(), run_dir.resolve()
    if (root in path.parents or path == root) and not (
        path.parent == root and path.suffix == ".onnx"
    ):
        raise error(
            "E080",
            f"{target} is inside the run directory {run_dir}: an export never replaces the "
            "run's own files",
            "leave PATH out (RUN/PART.onnx), or pass a path outside the run",
        )
