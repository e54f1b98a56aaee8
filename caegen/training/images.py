"""Images as every data source hands them over: a split in memory or streamed from files,
the pair of splits, and fitting images (and masks) to the spec's input shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caegen.core.diagnostics import CaegenError, Location, error

if TYPE_CHECKING:
    from caegen.training.truth import Truth

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
LUMINANCE = (0.2125, 0.7154, 0.0721)
"""RGB -> gray weights of the in-memory sources (ITU-R 709, as scikit-image's rgb2gray)."""


@dataclass
class Images:
    """A split of images: in memory (`array`), or files streamed from disk (`files`)."""

    array: np.ndarray | None = None
    files: list[str] | None = None
    labels: np.ndarray | None = None
    truth: Truth | None = None
    """Anomaly detection: each image's normal/anomalous label, kind and mask."""

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.files or [])

    def head(self, n: int) -> Images:
        """The first n images."""
        return self.take(np.arange(min(n, len(self))))

    def take(self, indices: np.ndarray) -> Images:
        """These images, with their labels and truth."""
        index = np.asarray(indices, dtype=np.int64)
        return Images(
            None if self.array is None else self.array[index],
            None if self.files is None else [self.files[i] for i in index],
            None if self.labels is None else self.labels[index],
            None if self.truth is None else self.truth.take(index),
        )


@dataclass
class DataSplits:
    train: Images
    test: Images
    description: str
    test_split_images: int | None = None
    """The whole test split's size (`test` holds its first `data.eval_limit` when set)."""
    scale: float = 255.0
    """What the source's values were divided by to lie in [0, 1] (digits: 16)."""
    calibration: Images | None = None
    """Normal images held out of training, for the anomaly threshold (anomaly data only)."""


def unavailable(message: str, hint: str) -> CaegenError:
    return error("E053", message, hint, Location(path="data.source"))


# --- fitting images to the input shape -----------------------------------------------------
def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(N, h, w, c) with c in 1..4 to `channels` (1, 3 or 4), the way image tools do:
    gray is repeated to RGB, RGB is weighed to luminance (ITU-R 709), alpha is dropped
    (RGBA -> RGB) or made opaque (RGB -> RGBA). 2 channels read as gray + alpha."""
    c = images.shape[-1]
    if c == channels:
        return images
    color = images[..., :3] if c >= 3 else np.repeat(images[..., :1], 3, axis=-1)
    if channels == 1:
        weights = np.array(LUMINANCE, np.float32)
        return (color @ weights)[..., None]
    if channels == 3:
        return color
    alpha = images[..., -1:] if c in (2, 4) else np.ones_like(images[..., :1])
    return np.concatenate([color, alpha], axis=-1)


def fit_images(images: np.ndarray, shape: tuple[int, int, int], how: str) -> np.ndarray:
    """(N, h, w[, c]) floats in [0, 1] -> (N, H, W, C) float32.

    `resize` scales every image to H x W. `pad` keeps the pixels' scale: a smaller side is
    zero-padded around the centre, a larger side is cropped around the centre.
    """
    if images.ndim == 3:
        images = images[..., None]
    h, w, c = shape
    images = convert_channels(images, c)
    if images.shape[1:3] != (h, w):
        if how == "pad":
            images = _pad_or_crop(images, h, w)
        else:
            from skimage.transform import resize

            images = np.stack([resize(im, (h, w, c), order=1, anti_aliasing=True) for im in images])
    return np.clip(images, 0.0, 1.0).astype(np.float32)


def fit_masks(masks: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    """(N, h, w) pixel masks fitted as their images are (nearest neighbour): bool."""
    h, w = size
    if masks.shape[1:3] == (h, w):
        return masks.astype(bool)
    if how == "pad":
        return _pad_or_crop(masks[..., None].astype(np.float32), h, w)[..., 0] > 0.5
    from skimage.transform import resize

    return np.stack([resize(m.astype(np.float32), (h, w), order=0) > 0.5 for m in masks])


def _pad_or_crop(images: np.ndarray, h: int, w: int) -> np.ndarray:
    n, ih, iw, c = images.shape
    top, left = max((ih - h) // 2, 0), max((iw - w) // 2, 0)
    images = images[:, top : top + h, left : left + w]  # crop what is too large
    ih, iw = images.shape[1:3]
    out = np.zeros((n, h, w, c), dtype=np.float32)
    top, left = (h - ih) // 2, (w - iw) // 2
    out[:, top : top + ih, left : left + iw] = images
    return out
