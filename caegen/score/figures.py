"""What a user looks at after `caegen score`: an overlay grid (input, reconstruction,
anomaly map with the threshold's contour, ground-truth mask), the ROC curve and the
score histograms of normal and anomalous images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caegen.training.plots import drawable, pyplot, save_figure, to_display

if TYPE_CHECKING:
    from caegen.score.runner import Scored, Scorer, ScoreResult
    from caegen.training.images import Images

COLUMNS = 8


def chosen(result: ScoreResult, images: Images, k: int = COLUMNS) -> list[int]:
    """Images worth looking at: with labels, anomalous ones from the highest score down
    and normal ones from the highest down (false alarms first); else spread over the
    scores from lowest to highest."""
    order = np.argsort(-result.scores, kind="stable")
    truth = images.truth
    if truth is None or not truth.anomalous.any():
        return _spread([int(i) for i in order[::-1]], k)
    bad = [int(i) for i in order if truth.anomalous[i]]
    good = [int(i) for i in order if not truth.anomalous[i]]
    n_good = min(len(good), max(k // 3, k - len(bad)))
    return _spread(bad, k - n_good) + _spread(good, n_good)


def _spread(items: list[int], k: int) -> list[int]:
    if k <= 0 or not items:
        return []
    return [items[int(i)] for i in np.unique(np.linspace(0, len(items) - 1, k).round())]


def overlay_grid(
    path: Path,
    result: ScoreResult,
    columns: list[dict[str, Any]],
    data_range: str,
) -> None:
    """One column per image: input, reconstruction, map (+ contour), mask when known."""
    plt = pyplot()
    with_masks = any(c["mask"] is not None for c in columns)
    rows = ["input", "reconstruction", "anomaly map", *(["ground truth"] if with_masks else [])]
    vmax = max(float(c["map"].max()) for c in columns) or 1.0
    level = result.pixel_threshold.value
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(1.5 * len(columns), 1.6 * len(rows)), squeeze=False
    )
    for c, column in enumerate(columns):
        _image(axes[0][c], column["input"], data_range)
        _image(axes[1][c], column["reconstruction"], data_range)
        ax = axes[2][c]
        ax.imshow(column["map"], cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
        if column["map"].max() > level:
            ax.contour(column["map"], levels=[level], colors="cyan", linewidths=0.8)
        if with_masks:
            mask = column["mask"] if column["mask"] is not None else np.zeros_like(column["map"])
            axes[3][c].imshow(mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[0][c].set_title(column["title"], fontsize=7)
    for r, label in enumerate(rows):
        axes[r][0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{result.kind.describe()}\ncyan: map > {level:.4g}, the "
        f"{result.pixel_threshold.quantile:g} quantile of the normal calibration pixels",
        fontsize=8,
    )
    save_figure(fig, path)


def _image(ax: Any, image: np.ndarray, data_range: str) -> None:
    shown = drawable(to_display(image, data_range))
    if shown.ndim == 2:
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(shown, interpolation="nearest")


def roc_plot(path: Path, result: ScoreResult, anomalous: np.ndarray) -> None:
    """The image-level ROC curve, with the operating point of the calibrated threshold."""
    from sklearn.metrics import roc_curve

    plt = pyplot()
    fpr, tpr, _ = roc_curve(anomalous, result.scores)
    flagged = result.flagged
    point = (flagged[~anomalous].mean(), flagged[anomalous].mean())
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot(fpr, tpr, label=f"AUROC {result.metrics['image_auroc']:.3f}")
    ax.plot([0, 1], [0, 1], ":", color="gray", linewidth=0.8)
    ax.plot(*point, "o", color="red", label=f"threshold {result.threshold.value:.4g}")
    ax.set_xlabel("false-positive rate (normal images flagged)")
    ax.set_ylabel("true-positive rate (anomalies flagged)")
    ax.set_title(f"image ROC, score {result.kind.kind}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


def histogram(path: Path, result: ScoreResult, anomalous: np.ndarray | None) -> None:
    """Score histograms of normal and anomalous images (or of all of them), and the threshold;
    as densities, so a few normal images and many anomalies compare by shape."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    scores = result.scores
    bins = np.histogram_bin_edges(np.append(scores, result.threshold.value), bins=40)
    if anomalous is None:
        ax.hist(scores, bins=bins, alpha=0.7, density=True, label=f"images ({len(scores)})")
    else:
        for name, pick, color in (
            ("normal", ~anomalous, "tab:blue"),
            ("anomalous", anomalous, "tab:red"),
        ):
            ax.hist(
                scores[pick],
                bins=bins,
                alpha=0.6,
                color=color,
                density=True,
                label=f"{name} ({pick.sum()})",
            )
    ax.axvline(result.threshold.value, color="black", linestyle="--", label="threshold")
    ax.set_xlabel(f"score ({result.kind.kind})")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def write_figures(
    result: ScoreResult,
    images: Images,
    scored: Scored,
    scorer: Scorer,
    masks: np.ndarray | None,
) -> list[Path]:
    picks = chosen(result, images)
    x, reconstruction = scorer.reconstruct(images, sorted(picks))
    row = {index: i for i, index in enumerate(sorted(picks))}
    truth = images.truth
    columns = [
        {
            "input": x[row[i]],
            "reconstruction": reconstruction[row[i]],
            "map": scored.maps[i],
            "mask": None if masks is None else masks[i],
            "title": (f"{truth.kinds[i]} " if truth is not None else f"#{i} ")
            + f"{result.scores[i]:.3g}"
            + (" !" if result.flagged[i] else ""),
        }
        for i in picks
    ]
    out = result.out
    written = [out / "overlays.png"]
    overlay_grid(written[0], result, columns, scorer.spec.data.range)
    labelled = truth is not None and bool(result.metrics)
    if labelled:
        written.append(out / "roc.png")
        roc_plot(written[-1], result, truth.anomalous)  # type: ignore[union-attr]
    written.append(out / "histogram.png")
    histogram(written[-1], result, truth.anomalous if labelled else None)  # type: ignore[union-attr]
    return written
