"""`caegen compare RUN... --inspect LAYER`: one layer of several runs, side by side.

Every run sees the same image: test image N of the first run's data (fed as that run's
evaluation feeds it), so the runs must take the same input shape and range. The filters
share one weight scale (the largest |w| among the runs), and each column of maps one
value scale, so that a smaller weight or a weaker response shows as one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import CaegenError, error
from caegen.core.fsutil import atomic_write_bytes, unwritable
from caegen.inspect.activations import feature_maps
from caegen.inspect.filters import filter_grid
from caegen.inspect.inspector import chosen_image, finished_run, kernel
from caegen.inspect.layers import Target, select
from caegen.inspect.view import LayerView
from caegen.training.rundir import Run


def layer_across_runs(runs: list[Run], layer: str, path: Path, image: int | None = None) -> Path:
    """Draw `layer` of every run on one image into the PNG at `path`."""
    return write_figure(layer_figure(runs, layer, image), path)


def layer_figure(runs: list[Run], layer: str, image: int | None = None) -> bytes:
    """The PNG of `layer` of every run on one image (a CaegenError before anything is
    written when a run has no such layer)."""
    from caegen.inspect.figures import comparison_figure

    rows, x, label = comparison(runs, layer, image)
    return comparison_figure(rows, x[0], runs[0].spec.data.range, label)


def write_figure(png: bytes, path: Path) -> Path:
    try:
        atomic_write_bytes(path, png)
    except OSError as exc:
        raise unwritable(f"write {path}", exc, "pass another --out") from None
    return path


def comparison(
    runs: list[Run], layer: str, image: int | None = None
) -> tuple[list[tuple[str, LayerView]], np.ndarray, str]:
    """Each run's view of `layer` (labelled by run) on the first run's image, the filters on
    one scale; the image (a batch of one) and its label."""
    first = runs[0].spec
    x, label = chosen_image(first, image, None)
    measured: list[tuple[str, Target, np.ndarray | None, Any]] = []
    for given in runs:
        run = finished_run(given.path)
        target = _target(run, layer)
        spec = run.spec
        if tuple(spec.input) != tuple(first.input) or spec.data.range != first.data.range:
            raise error(
                "E092",
                f"{run.path} takes {_input(spec)} images; the image shown comes from "
                f"{runs[0].path} ({_input(first)})",
                "compare runs that take the same input shape and data range",
            )
        model = run.load_model("autoencoder")
        maps = feature_maps(model, [target], x)[layer]
        measured.append((f"{spec.name}/{run.path.name}", target, kernel(model, target), maps))
    kernels = [k for _, _, k, _ in measured if k is not None]
    scale = max(float(np.abs(k).max()) for k in kernels) if kernels else None
    rows = []
    for run_label, target, weights, maps in measured:
        grid = None
        if weights is not None and target.weights is not None:
            grid = filter_grid(weights, target.weights.layout, scale)
        rows.append((run_label, LayerView(target, grid, maps)))
    return rows, x, label


def _target(run: Run, layer: str) -> Target:
    from caegen.compile.compiler import check

    report = check(run.spec)
    assert report.graph is not None
    try:
        (target,) = select(report.graph, [layer])
    except CaegenError as exc:
        d = exc.diagnostics[0]
        raise error(d.code, f"{run.path}: {d.message}", d.hint) from None
    return target


def _input(spec: Any) -> str:
    return "x".join(map(str, spec.input)) + f" {spec.data.range}"
