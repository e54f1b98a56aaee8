"""Drawing: a figure per layer, a comparison across runs, and the exact filter grid as a PNG.

Feature maps are drawn channel by channel in gray, each panel scaled from its own minimum
(black) to its maximum (white) unless a comparison shares one scale per column; the
panel's title gives the range. Filter grids are drawn as `caegen.inspect.filters` scales
them. `grid_png` writes the grid itself, pixel for pixel (8 bits a channel, lossless).
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from caegen.inspect.filters import FilterGrid, zoom_for
from caegen.inspect.view import LayerView, value_range

MAX_CHANNELS = 64
GAP = 2
"""Pixels between the tiles of `grid_png`."""
GAP_RGB = (74, 111, 165)
"""The colour of gaps and empty tiles (no weight is drawn in it by the gray scale)."""


def grid_png(grid: FilterGrid) -> bytes:
    """The filter grid at `zoom_for(grid)` pixels a weight, gaps of GAP pixels, as an RGB PNG."""
    from PIL import Image

    image = grid.image(zoom=zoom_for(grid), gap=GAP)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    gaps = np.isnan(image).any(axis=-1)
    pixels = np.round(np.clip(np.nan_to_num(image), 0.0, 1.0) * 255).astype(np.uint8)
    pixels[gaps] = GAP_RGB
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def map_tiles(values: np.ndarray, limit: int = MAX_CHANNELS) -> tuple[np.ndarray, str]:
    """A layer's values as one 2-D array: each channel's H x W map in a near-square grid
    with 1-pixel NaN gaps (the first `limit` channels); a vector as a near-square tile."""
    if values.ndim == 1:
        cols = math.ceil(math.sqrt(len(values)))
        padded = np.full(cols * math.ceil(len(values) / cols), np.nan)
        padded[: len(values)] = values
        return padded.reshape(-1, cols), f"{len(values)} units, row by row"
    if values.ndim == 2:
        return values.astype(np.float64), ""
    channels = values.shape[-1]
    shown = min(channels, limit)
    cols = math.ceil(math.sqrt(shown))
    rows = math.ceil(shown / cols)
    h, w = values.shape[:2]
    out = np.full((1 + rows * (h + 1), 1 + cols * (w + 1)), np.nan)
    for k in range(shown):
        r, c = divmod(k, cols)
        top, left = 1 + r * (h + 1), 1 + c * (w + 1)
        out[top : top + h, left : left + w] = values[..., k]
    first = f"the first {shown} of " if shown < channels else ""
    return out, f"{first}{channels} channel{'s' if channels > 1 else ''}"


def layer_figure(view: LayerView, image: np.ndarray, data_range: str, image_label: str) -> bytes:
    """One layer: the input image, the filter grid, the maps before and after; a PNG."""
    panels: list[tuple[str, tuple[Any, ...]]] = [(image_label, ("image", image, data_range))]
    if view.grid is not None:
        panels.append((_grid_title(view.grid), ("grid", view.grid)))
    shape = view.target.weights.map_shape if view.target.weights else None
    if view.maps.before is not None:
        before = _as_map(view.maps.before, shape)
        panels.append((view.before_title() or "", ("maps", before, None)))
    panels.append((view.after_title(), ("maps", _as_map(view.maps.after, shape), None)))
    ratios = [_aspect(panel) for _, panel in panels]
    plt = _pyplot()
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.2 * sum(ratios) + 0.6 * len(panels), 4.0),
        squeeze=False,
        gridspec_kw={"width_ratios": ratios},
    )
    fig.subplots_adjust(left=0.01, right=0.97, bottom=0.07, top=0.8, wspace=0.3)
    for ax, (title, panel) in zip(axes[0], panels):
        _draw(fig, ax, panel)
        ax.set_title(title, fontsize=8)
    fig.suptitle(view.target.describe(), fontsize=10)
    return _png(fig, tight=False)  # laid out above: a tight box would draw it twice


def _as_map(values: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """A vector that is a flattened (or soon reshaped) H x W x C map, drawn as that map."""
    if shape is not None and values.ndim == 1 and values.size == math.prod(shape):
        return values.reshape(shape)
    return values


def _aspect(panel: tuple[Any, ...]) -> float:
    """A panel's width over its height, kept between 0.6 and 2.5 (its share of the row)."""
    kind, content = panel[0], panel[1]
    if content is None:
        return 1.0
    if kind == "grid":
        array = content.image()
    elif kind == "maps":
        array = map_tiles(content)[0]
    else:
        array = content
    return float(np.clip(array.shape[1] / array.shape[0], 0.6, 2.5))


def comparison_figure(
    rows: list[tuple[str, LayerView]], image: np.ndarray, data_range: str, image_label: str
) -> bytes:
    """One row per run: the layer's filters (one weight scale for all), its maps before and
    after (one value scale per column for all runs); the shared input image on top."""
    columns = 1 + max(v.maps.before is not None for _, v in rows) + 1
    before = [v.maps.before for _, v in rows if v.maps.before is not None]
    before_scale = _shared_range(before) if before else None
    after_scale = _shared_range([v.maps.after for _, v in rows])
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(rows) + 1,
        columns,
        figsize=(3.4 * columns, 3.3 * len(rows) + 2.2),
        squeeze=False,
        gridspec_kw={"height_ratios": [0.6] + [1.0] * len(rows)},
    )
    for ax in axes[0]:
        ax.axis("off")
    _draw(fig, axes[0][0], ("image", image, data_range))
    axes[0][0].axis("on")
    axes[0][0].set_title(image_label, fontsize=8)
    for r, (label, view) in enumerate(rows, start=1):
        shape = view.target.weights.map_shape if view.target.weights else None
        cells: list[tuple[str, Any]] = [
            (_grid_title(view.grid) if view.grid else "no weights", ("grid", view.grid))
        ]
        if columns == 3:
            before = None if view.maps.before is None else _as_map(view.maps.before, shape)
            before_title = view.before_title() or "(a merge: no single input)"
            cells.append((before_title, ("maps", before, before_scale)))
        after = _as_map(view.maps.after, shape)
        cells.append((view.after_title(), ("maps", after, after_scale)))
        for c, (title, panel) in enumerate(cells):
            ax = axes[r][c]
            _draw(fig, ax, panel)
            ax.set_title(title, fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
    name = rows[0][1].name
    scale = rows[0][1].grid.scale if rows[0][1].grid else None
    shared = f"; one weight scale for all runs: ±{scale:.3g}" if scale else ""
    fig.suptitle(f"`{name}` in {len(rows)} runs{shared}", fontsize=10)
    return _png(fig)


def _grid_title(grid: FilterGrid) -> str:
    lo, hi = grid.value_range
    return f"weights [{lo:.3g}, {hi:.3g}], drawn ±{grid.scale:.3g}\n{grid.caption}"


def _shared_range(arrays: list[np.ndarray]) -> tuple[float, float]:
    ranges = [value_range(a) for a in arrays]
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def _draw(fig: Any, ax: Any, panel: tuple[Any, ...]) -> None:
    kind = panel[0]
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor(np.array(GAP_RGB) / 255)
    if kind == "image":
        _draw_image(ax, panel[1], panel[2])
    elif kind == "grid":
        if panel[1] is not None:
            ax.imshow(_rgba(panel[1].image()), interpolation="nearest")
    elif panel[1] is None:
        ax.axis("off")
    else:
        tiles, note = map_tiles(panel[1])
        lo, hi = panel[2] or value_range(panel[1])
        shown = ax.imshow(
            tiles, cmap=_gray(), vmin=lo, vmax=max(hi, lo + 1e-12), interpolation="nearest"
        )
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
        ax.set_xlabel(note, fontsize=7)


def _draw_image(ax: Any, image: np.ndarray, data_range: str) -> None:
    from caegen.training.plots import drawable, to_display

    shown = drawable(to_display(image, data_range))
    if shown.ndim == 2:
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(shown, interpolation="nearest")


def _rgba(image: np.ndarray) -> np.ndarray:
    """(H, W, 1 or 3) values in [0, 1] with NaN gaps as RGBA (gaps transparent)."""
    gaps = np.isnan(image).any(axis=-1)
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    rgba = np.concatenate([np.clip(np.nan_to_num(rgb), 0, 1), (~gaps)[..., None]], axis=-1)
    return rgba


def _gray() -> Any:
    import matplotlib

    return matplotlib.colormaps["gray"].with_extremes(bad=np.array(GAP_RGB) / 255)


def _pyplot() -> Any:
    from caegen.training.plots import pyplot

    return pyplot()


def _png(fig: Any, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    _pyplot().close(fig)
    return buf.getvalue()
