"""A comparison's figures: quality against size (one row per family, each group's mean with
its 95% interval, the Pareto front, numbered points and a legend table of their labels),
validation loss per run coloured by group, and the same test images through each group."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from caegen.sweep.compare.stats import ranked_metric

if TYPE_CHECKING:
    from caegen.sweep.compare import Comparison
    from caegen.sweep.compare.groups import Family

# offsets (in points) tried in turn for a point's number until it overlaps no other label
_OFFSETS = [
    (dx * r, dy * r)
    for r in (1, 2, 3, 4, 6, 8)
    for dx, dy in ((5, 5), (5, -12), (-14, 5), (-14, -12), (0, 12), (0, -18), (12, 0), (-20, 0))
]


def write_figures(result: Comparison, out: Path) -> tuple[list[Path], list[str]]:
    """The three figures under `out`, and what could not be drawn (a run's model)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "quality_vs_size.png", out / "loss_curves.png", out / "reconstructions.png"]
    quality_vs_size(result, paths[0])
    loss_curves(result, paths[1])
    problems = reconstructions(result, paths[2])
    return paths, problems


def quality_vs_size(result: Comparison, path: Path) -> None:
    from caegen.training.plots import save_figure

    save_figure(quality_figure(result), path)


def quality_figure(result: Comparison) -> Any:
    """The quality-against-size figure (a matplotlib Figure, not yet saved)."""
    from caegen.training.plots import pyplot

    plt = pyplot()
    rows = len(result.families)
    legend = [f"{g.name}  {g.label}" for g in result.groups]
    height = 3.6 * rows + 0.2 * len(legend) + 0.6
    fig, axes = plt.subplots(rows, 2, figsize=(11, height), squeeze=False)
    numbered = []
    for row, family in zip(axes, result.families):
        for ax, size, xlabel in ((row[0], "params", "parameters"), (row[1], "macs", "MACs")):
            numbered.append((ax, _family_panel(ax, result, family, size)))
            ax.set_xlabel(f"{xlabel} per image" if size == "macs" else xlabel)
    fig.suptitle(f"test {result.metric} against size, mean and 95% interval per group")
    fig.tight_layout(rect=(0, 0.2 * len(legend) / height + 0.02, 1, 0.97))
    fig.text(
        0.01,
        0.01,
        "\n".join(legend),
        fontsize=8,
        family="monospace",
        va="bottom",
        ha="left",
    )
    for ax, points in numbered:
        place_labels(ax, points)
    return fig


def _family_panel(
    ax: Any, result: Comparison, family: Family, size: str
) -> list[tuple[str, float, float]]:
    """One family's groups against one size; the (number, x, y) of each point drawn."""
    from caegen.sweep.compare import front_of

    name = ranked_metric(family.task, result.metric)
    members = [g for g in result.groups if g.family is family]
    drawn = []
    for g in members:
        s = result.summaries[g.number][name]
        if s.mean is None:
            continue
        x = getattr(g, size)
        low = s.mean - s.low if s.low is not None else 0.0
        high = s.high - s.mean if s.high is not None else 0.0
        ax.errorbar(x, s.mean, yerr=[[low], [high]], fmt="o", color="tab:blue", ms=5, capsize=3)
        drawn.append((g, x, s.mean))
    front = front_of(result, family, size)
    if front:
        ax.plot(
            [getattr(g, size) for g in front],
            [result.summaries[g.number][name].mean for g in front],
            color="tab:red",
            marker="o",
            markersize=9,
            fillstyle="none",
            label="Pareto front",
            zorder=2,
        )
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xscale("log")
    ax.set_ylabel(f"{name} (dB)" if "psnr" in name else name)
    ax.set_title(family.title, fontsize=9)
    ax.grid(alpha=0.3)
    return [(g.name, x, y) for g, x, y in drawn]


def place_labels(ax: Any, points: list[tuple[str, float, float]]) -> list[Any]:
    """Each point's number beside it, at the first offset where it overlaps no label
    placed before it (checked on the rendered extents)."""
    renderer = ax.figure.canvas.get_renderer()
    boxes: list[Any] = []
    texts = []
    for text, x, y in points:
        annotation = None
        for dx, dy in _OFFSETS:
            if annotation is not None:
                annotation.remove()
            annotation = ax.annotate(
                text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8
            )
            box = annotation.get_window_extent(renderer)
            if not any(box.overlaps(b) for b in boxes):
                break
        boxes.append(annotation.get_window_extent(renderer))  # type: ignore[union-attr]
        texts.append(annotation)
    return texts


def loss_curves(result: Comparison, path: Path) -> None:
    from caegen.training.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.get_cmap("tab10")
    for g in result.groups:
        for i, e in enumerate(g.entries):
            epochs = [h["epoch"] for h in e.history]
            ax.plot(
                epochs,
                [h["val_loss"] for h in e.history],
                color=colors((g.number - 1) % 10),
                alpha=0.8,
                marker="o",
                markersize=2,
                label=_short(g.describe()) if i == 0 else None,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def reconstructions(result: Comparison, path: Path, n: int = 8) -> list[str]:
    """The same test images (of the first group's data) through the first run of every
    group that takes that input; what could not be drawn is returned."""
    import numpy as np

    from caegen.core.diagnostics import CaegenError
    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays, spread
    from caegen.training.plots import reconstruction_grid

    first = result.groups[0].first.spec
    test = load_data(first).test
    x, _ = evaluation_arrays(test, first, seed=first.train.seed + 1, indices=spread(len(test), n))
    rows: list[tuple[str, Any]] = [("input", x)]
    problems = []
    for g in result.groups:
        spec = g.first.spec
        if tuple(spec.input) != tuple(first.input) or spec.data.range != first.data.range:
            continue  # another input: its reconstructions are not of these images
        try:
            model = g.first.run.load_model("autoencoder")
        except CaegenError as exc:
            d = exc.diagnostics[0]
            problems.append(f"{g.name} left out of the reconstructions: {d.code} {d.message}")
            continue
        rows.append((g.name, np.asarray(model.predict(x, verbose=0))))
    reconstruction_grid(rows, path, first.data.range)
    return problems
