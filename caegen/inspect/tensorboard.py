"""`caegen inspect RUN --tensorboard`: the figures in the run's TensorBoard folder.

Events go to `RUN/tensorboard/inspect/`, at the step of the run's last epoch: per layer
`inspect/<layer>` (the whole figure) and `filters/<layer>` (the filter grid, pixel for
pixel). `tensorboard --logdir runs/` then shows every inspected run's images side by side
under the same tags.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from caegen.core.diagnostics import error
from caegen.inspect.view import LayerView
from caegen.training.rundir import Run

EVENTS = "events.out.tfevents.*"


def folder(run: Run) -> Path:
    return run.path / "tensorboard" / "inspect"


def refuse_existing_events(run: Run, force: bool) -> None:
    existing = sorted(folder(run).glob(EVENTS))
    if existing and not force:
        raise error(
            "E050",
            f"{folder(run)} already holds inspect images ({existing[0].name}); not adding more",
            "pass --force to replace them",
        )


def write_events(run: Run, views: list[LayerView], figures: dict[str, bytes]) -> Path:
    """Replace the run's inspect events with these views' images."""
    import tensorflow as tf

    from caegen.inspect.figures import grid_png

    target = folder(run)
    for old in target.glob(EVENTS):
        old.unlink()
    step = run.status().epoch
    writer = tf.summary.create_file_writer(str(target))
    with writer.as_default():
        for view in views:
            tf.summary.image(f"inspect/{view.name}", _pixels(figures[view.name]), step=step)
            if view.grid is not None:
                tf.summary.image(f"filters/{view.name}", _pixels(grid_png(view.grid)), step=step)
    writer.flush()
    writer.close()
    return target


def _pixels(png: bytes) -> np.ndarray:
    """A PNG as a batch of one RGB uint8 image."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[None]
