"""Figures of a run: the loss curves and a grid of reconstructions (real PNGs)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caegen.core.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from caegen.spec.schema import Spec


def pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def loss_plot(history: list[dict[str, float]], path: Path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [row["epoch"] for row in history]
    for key, style in (("loss", "-"), ("val_loss", "--")):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, style, marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def to_display(x: np.ndarray, data_range: str) -> np.ndarray:
    x = (x + 1.0) / 2.0 if data_range == "symmetric" else x
    return np.clip(x, 0.0, 1.0)


def drawable(image: np.ndarray) -> np.ndarray:
    """An (H, W, C) image as matplotlib draws it: gray for 1 or 2 channels (the second is
    alpha, dropped), RGB for 3, RGBA for 4, the first three channels beyond that."""
    channels = image.shape[-1]
    if channels <= 2:
        return image[..., 0]
    return image if channels in (3, 4) else image[..., :3]


def reconstruction_grid(rows: list[tuple[str, np.ndarray]], path: Path, data_range: str) -> None:
    """One row per (label, images) pair, e.g. input | reconstruction, 8 images wide."""
    plt = pyplot()
    n = min(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            image = drawable(to_display(images[c], data_range))
            if image.ndim == 2:
                ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    save_figure(fig, path)


def run_figures(
    spec: Spec, model: Any, run_dir: Path, history: list[dict[str, Any]], test: Any
) -> None:
    """A finished run's loss.png and reconstructions.png."""
    from caegen.training.pipeline import evaluation_arrays, spread

    loss_plot(history, run_dir / "loss.png", f"{spec.name}: {spec.train.loss} loss")
    x, clean = evaluation_arrays(test, spec, seed=spec.train.seed + 1, indices=spread(len(test), 8))
    recon = model.predict(x, verbose=0)
    rows = (
        [("noisy", x), ("denoised", recon), ("clean", clean)]
        if spec.data.noise is not None
        else [("input", x), ("reconstruction", recon)]
    )
    reconstruction_grid(rows, run_dir / "reconstructions.png", spec.data.range)
