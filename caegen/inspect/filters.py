"""Learned filters as a grid of tiles: an array first, drawn afterwards (numpy only).

**Kernels.** Every weighted layer is drawn from a kernel of shape (kh, kw, in, out):
`conv2d` as Keras stores it; `conv2d_transpose` with Keras's (kh, kw, out, in) swapped
back; `separable_conv2d` as the regular convolution it equals (its depthwise kernel times
its pointwise one, summed over the depth multiplier); `dense` as a 1x1 kernel when it acts
on each pixel, as H x W x C filters when it reads a flattened H x W x C map, and as one
H x W x C map per input unit when a reshape makes that map of its output.
`depthwise_conv2d` keeps its (kh, kw, in, multiplier) kernel: each output channel filters
one input channel.

**Layout.** A layer that reads the image (1 or 3 channels): one tile per filter over the
image's channels, RGB filters in colour. A layer that writes the reconstruction (1 or 3
channels): one tile per input channel over the output's channels (the colours each
feature map paints). Other layers: one row per output channel, one column per input
channel. Depthwise: one row per input channel, one column per multiplier. Tiles for one
per filter (or per input) fill a near-square grid row by row; at most MAX_SQUARE tiles,
or MAX_SIDE rows and columns, are shown (the caption says so).

**Scaling.** One symmetric scale per layer: a weight w is drawn as 0.5 + 0.5 * w / s, where
s = max |w| over the layer's whole kernel (or one scale shared by the runs of a comparison).
0 is mid-gray; the largest magnitude is black (negative) or white (positive). In an RGB tile
each colour channel is scaled the same way.

**Pixels.** `FilterGrid.image(zoom, gap)` is the drawn grid: tile (r, c) starts at row
gap + r * (kh * zoom + gap) and column gap + c * (kw * zoom + gap); weight (i, j) of the tile
fills the zoom x zoom block at (i * zoom, j * zoom) from there; gaps and empty tiles are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caegen.inspect.layers import DEPTHWISE, IMAGE_IN, IMAGE_OUT, WeightImages

MAX_SQUARE = 256
MAX_SIDE = 64
TILE_PIXELS = 24
"""`zoom_for` enlarges small kernels to about this many pixels a side."""


@dataclass(frozen=True)
class FilterGrid:
    """Tiles of weights: (rows, cols, kh, kw, channels), NaN where no tile; and the scale."""

    tiles: np.ndarray
    scale: float
    caption: str
    kernel: np.ndarray
    """The kernel the tiles were cut from (the shape of `kernel_of`), all of it."""

    @property
    def value_range(self) -> tuple[float, float]:
        return float(self.kernel.min()), float(self.kernel.max())

    def scaled(self) -> np.ndarray:
        """The tiles as drawn: 0.5 + 0.5 * w / scale, in [0, 1] (NaN stays NaN)."""
        if self.scale <= 0:
            return np.where(np.isnan(self.tiles), np.nan, 0.5)
        return 0.5 + 0.5 * self.tiles / self.scale

    def image(self, zoom: int = 1, gap: int = 1) -> np.ndarray:
        """The grid as one (H, W, channels) array in [0, 1], NaN in the gaps."""
        rows, cols, kh, kw, channels = self.tiles.shape
        height, width = gap + rows * (kh * zoom + gap), gap + cols * (kw * zoom + gap)
        out = np.full((height, width, channels), np.nan, dtype=np.float64)
        scaled = self.scaled()
        for r in range(rows):
            for c in range(cols):
                top, left = gap + r * (kh * zoom + gap), gap + c * (kw * zoom + gap)
                block = np.repeat(np.repeat(scaled[r, c], zoom, axis=0), zoom, axis=1)
                out[top : top + kh * zoom, left : left + kw * zoom] = block
        return out


def zoom_for(grid: FilterGrid) -> int:
    """A whole-pixel enlargement that makes small kernels visible (3x3 -> 8 pixels a weight)."""
    kh, kw = grid.tiles.shape[2:4]
    return max(1, math.ceil(TILE_PIXELS / max(kh, kw)))


def kernel_of(layer_type: str, weights: dict[str, np.ndarray], view: WeightImages) -> np.ndarray:
    """The (kh, kw, in, out) kernel drawn for a layer ((kh, kw, in, multiplier) for depthwise).

    `weights`: Keras's arrays by name: `kernel`, or `depthwise_kernel` and `pointwise_kernel`.
    """
    if layer_type == "separable_conv2d":
        depthwise, pointwise = weights["depthwise_kernel"], weights["pointwise_kernel"]
        cin, multiplier = depthwise.shape[2:]
        mix = pointwise.reshape(cin, multiplier, pointwise.shape[-1])
        return np.einsum("hwcm,cmf->hwcf", depthwise, mix)
    kernel = weights["kernel"]
    if layer_type == "conv2d_transpose":
        return kernel.transpose(0, 1, 3, 2)
    if layer_type != "dense":
        return kernel
    if view.dense == "pixel":
        return kernel.reshape(1, 1, *kernel.shape)
    assert view.map_shape is not None
    h, w, c = view.map_shape
    if view.dense == "flattened":  # Flatten orders values by row, column, channel
        return kernel.reshape(h, w, c, kernel.shape[-1])
    return kernel.reshape(kernel.shape[0], h, w, c).transpose(1, 2, 0, 3)


def filter_grid(kernel: np.ndarray, layout: str, scale: float | None = None) -> FilterGrid:
    """The tiles of `kernel` (from `kernel_of`) in `layout`, on `scale` (default: max |w|)."""
    scale = float(np.abs(kernel).max()) if scale is None else scale
    cin, cout = kernel.shape[2:]
    if layout == IMAGE_IN:
        tiles, count = _square(kernel.transpose(3, 0, 1, 2))
        caption = f"{count} filters over the input's {_colours(cin)}"
    elif layout == IMAGE_OUT:
        tiles, count = _square(kernel.transpose(2, 0, 1, 3))
        caption = f"what each of {count} inputs paints in the output's {_colours(cout)}"
    else:  # CHANNELS: (out, in) tiles; DEPTHWISE: (in, multiplier) tiles
        order = (2, 3, 0, 1) if layout == DEPTHWISE else (3, 2, 0, 1)
        by_row = kernel.transpose(order)
        rows, cols = (min(n, MAX_SIDE) for n in by_row.shape[:2])
        tiles, arranged = _rows_and_columns(by_row[:rows, :cols, ..., None])
        names = ("input channels", "multipliers") if layout == DEPTHWISE else ("outputs", "inputs")
        caption = (
            f"rows: {_shown(rows, by_row.shape[0])} {names[0]}, "
            f"columns: {_shown(cols, by_row.shape[1])} {names[1]}{arranged}"
        )
    return FilterGrid(tiles.astype(np.float64), scale, caption, kernel)


def _rows_and_columns(tiles: np.ndarray) -> tuple[np.ndarray, str]:
    """(R, C, kh, kw, ch) tiles as a grid with row r, column c for (r, c), unless one side
    is 4 times the other: then each row's C tiles wrap over k = round(sqrt(C / R)) grid rows
    (an empty row between two rows), or m = round(sqrt(R / C)) rows sit side by side (an
    empty column between them)."""
    r_count, c_count = tiles.shape[:2]
    if c_count >= 4 * r_count:
        k = round(math.sqrt(c_count / r_count))
        per = math.ceil(c_count / k)
        out = np.full((r_count * (k + 1) - 1, per, *tiles.shape[2:]), np.nan)
        for r in range(r_count):
            for c in range(c_count):
                out[r * (k + 1) + c // per, c % per] = tiles[r, c]
        return out, f" (each row wrapped over {k} lines)"
    if r_count >= 4 * c_count:
        m = round(math.sqrt(r_count / c_count))
        out = np.full((math.ceil(r_count / m), m * (c_count + 1) - 1, *tiles.shape[2:]), np.nan)
        for r in range(r_count):
            for c in range(c_count):
                out[r // m, (r % m) * (c_count + 1) + c] = tiles[r, c]
        return out, f" ({m} rows side by side)"
    return tiles, ""


def _square(tiles: np.ndarray) -> tuple[np.ndarray, str]:
    """(n, kh, kw, ch) tiles in a near-square (rows, cols, kh, kw, ch) grid, NaN-padded, and
    how many are shown."""
    n = len(tiles)
    shown = min(n, MAX_SQUARE)
    cols = math.ceil(math.sqrt(shown))
    rows = math.ceil(shown / cols)
    out = np.full((rows * cols, *tiles.shape[1:]), np.nan)
    out[:shown] = tiles[:shown]
    return out.reshape(rows, cols, *tiles.shape[1:]), _shown(shown, n)


def _colours(channels: int) -> str:
    return "RGB channels" if channels == 3 else "gray channel"


def _shown(shown: int, total: int) -> str:
    return str(total) if shown == total else f"the first {shown} of {total}"
