"""`caegen inspect RUN`: a finished run's filters and feature maps, as files and in TensorBoard.

For each layer drawn, `<layer>.png` (the input image, the filter grid, the maps before and
after the activation, each titled with its range and the share of zeros after it),
`<layer>.filters.png` (the filter grid alone, pixel for pixel: see caegen.inspect.filters)
and `<layer>.npz` (the numbers drawn: `image`, `before`, `after`, the filter `tiles` as
weights and their `scale`). The folder is `inspect/<spec name>/<run>/` unless `out` says
otherwise; an existing file is replaced only with `force`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import error
from caegen.core.fsutil import atomic_write_bytes, unwritable
from caegen.inspect.activations import feature_maps, layer_weights
from caegen.inspect.filters import FilterGrid, filter_grid, kernel_of
from caegen.inspect.layers import Target, select
from caegen.inspect.view import LayerView
from caegen.spec.schema import Spec
from caegen.training.rundir import Run


@dataclass
class InspectResult:
    run: Run
    image_label: str
    views: list[LayerView]
    written: list[Path] = field(default_factory=list)
    tensorboard: Path | None = None


def default_folder(run: Run) -> Path:
    return Path("inspect") / run.spec.name / run.path.name


def inspect(
    source: Path,
    *,
    image: int | None = None,
    input_file: Path | None = None,
    layers: list[str] | None = None,
    out: Path | None = None,
    force: bool = False,
    tensorboard: bool = False,
) -> InspectResult:
    """Draw the layers of the finished run at `source` (default: every convolution).

    `image`: test image N (default 0), fed as the run's evaluation feeds it (a denoiser's
    with its noise); `input_file`: an image file instead. `tensorboard`: write the figures
    into the run's TensorBoard folder too (then files only when `out` is given).
    """
    from caegen.compile.compiler import check

    if image is not None and input_file is not None:
        raise error("E092", "both --image and --input were given", "choose one image to feed")
    run = finished_run(Path(source))
    report = check(run.spec)
    assert report.graph is not None
    targets = select(report.graph, layers)
    x, label = chosen_image(run.spec, image, input_file)  # a wrong image before a figure in the way
    folder = None if tensorboard and out is None else Path(out or default_folder(run))
    paths = _planned(folder, targets) if folder is not None else {}
    _refuse_existing([p for group in paths.values() for p in group], force)
    if tensorboard:
        from caegen.inspect.tensorboard import refuse_existing_events

        refuse_existing_events(run, force)
    model = run.load_model("autoencoder")
    views = layer_views(model, targets, x)
    result = InspectResult(run, label, views)
    figures = _figures(views, x[0], run.spec, label)
    if folder is not None:
        result.written = _write(folder, paths, views, figures, x[0])
    if tensorboard:
        from caegen.inspect.tensorboard import write_events

        result.tensorboard = write_events(run, views, figures)
    return result


def finished_run(source: Path) -> Run:
    """The finished run at `source` (a run directory, or the latest finished in runs/<name>)."""
    run = Run.find(source, purpose="export")
    status = run.status()
    if status.state != "finished":
        raise error(
            "E052", f"{run.path} is not finished ({status.describe()})", run.next_step(status)
        )
    return run


def layer_views(model: Any, targets: list[Target], x: np.ndarray) -> list[LayerView]:
    """Each target's filter grid (on its own scale) and maps for the image `x`."""
    maps = feature_maps(model, targets, x)
    return [LayerView(t, _grid(model, t), maps[t.name]) for t in targets]


def kernel(model: Any, target: Target) -> np.ndarray | None:
    """The kernel drawn for a target (None: the layer has none)."""
    if target.weights is None:
        return None
    return kernel_of(target.type, layer_weights(model, target.name), target.weights)


def _grid(model: Any, target: Target) -> FilterGrid | None:
    weights = kernel(model, target)
    if weights is None or target.weights is None:
        return None
    return filter_grid(weights, target.weights.layout)


def chosen_image(spec: Spec, image: int | None, input_file: Path | None) -> tuple[np.ndarray, str]:
    """The batch of one image to feed, shape (1, H, W, C) in the spec's range, and its label."""
    if input_file is not None:
        return _file_image(spec, Path(input_file)), Path(input_file).name
    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays

    index = image or 0
    test = load_data(spec).test
    if index >= len(test):
        raise error(
            "E092",
            f"--image {index}: the test split of {spec.name} has {len(test)} images",
            f"pass --image 0 to {len(test) - 1}, or --input FILE",
        )
    x, _ = evaluation_arrays(test, spec, seed=spec.train.seed + 1, indices=[index])
    noisy = " with the run's noise" if spec.data.noise is not None else ""
    return x, f"test image {index}{noisy}"


def _file_image(spec: Spec, path: Path) -> np.ndarray:
    if not path.is_file():
        raise error("E092", f"--input {path} does not exist", "pass an image file (png, jpg)")
    import tensorflow as tf

    from caegen.training.pipeline import decode_file, to_range

    try:
        pixels = decode_file(str(path), spec).numpy()
    except (tf.errors.OpError, ValueError) as exc:
        first = str(getattr(exc, "message", exc)).strip().splitlines()
        raise error(
            "E092",
            f"--input {path} is not an image TensorFlow can decode ({first[0] if first else ''})",
            "pass a png, jpg, bmp or gif file",
        ) from None
    return to_range(pixels, spec.data.range)[None].astype(np.float32)


def _planned(folder: Path, targets: list[Target]) -> dict[str, list[Path]]:
    """The files each target writes: its figure, its numbers and (with weights) its grid."""
    return {
        t.name: [folder / f"{t.name}.png", folder / f"{t.name}.npz"]
        + ([folder / f"{t.name}.filters.png"] if t.weights is not None else [])
        for t in targets
    }


def _refuse_existing(paths: list[Path], force: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise error(
            "E050",
            f"{existing[0]} already exists{more}; not overwriting it",
            "pass --force to replace the figures, or another --out",
        )


def _figures(views: list[LayerView], image: np.ndarray, spec: Spec, label: str) -> dict[str, bytes]:
    from caegen.inspect.figures import layer_figure

    return {v.name: layer_figure(v, image, spec.data.range, label) for v in views}


def _write(
    folder: Path,
    paths: dict[str, list[Path]],
    views: list[LayerView],
    figures: dict[str, bytes],
    image: np.ndarray,
) -> list[Path]:
    from caegen.inspect.figures import grid_png

    written: list[Path] = []
    try:
        for view in views:
            figure, numbers, *grid_path = paths[view.name]
            atomic_write_bytes(figure, figures[view.name])
            atomic_write_bytes(numbers, _numbers(view, image))
            if view.grid is not None:
                atomic_write_bytes(grid_path[0], grid_png(view.grid))
            written += paths[view.name]
    except OSError as exc:
        raise unwritable(f"write to {folder}", exc, "pass another --out") from None
    return written


def _numbers(view: LayerView, image: np.ndarray) -> bytes:
    arrays: dict[str, np.ndarray] = {"image": image, "after": view.maps.after}
    if view.maps.before is not None:
        arrays["before"] = view.maps.before
    if view.grid is not None:  # the weights drawn, tile by tile (NaN: no tile), and the scale
        arrays |= {
            "tiles": view.grid.tiles.astype(np.float32),
            "scale": np.float64(view.grid.scale),
        }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()
