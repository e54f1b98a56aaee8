"""Anomaly maps and image scores, as one TensorFlow function over a batch of images.

The scorer runs the autoencoder and turns each image and its reconstruction into a map
(one value per pixel, larger = more anomalous) and a score (one value per image):

- `mse`: the squared residual averaged over the channels; the score is its mean (the
  image's MSE).
- `ssim`: 1 - SSIM at every pixel (an 11x11 Gaussian window of sigma 1.5, K1 = 0.01,
  K2 = 0.03, as Bergmann et al.; edges mirrored as scikit-image does), averaged over the
  channels; the score is its mean.
- `max-residual`: the squared residual smoothed with a Gaussian (sigma 2 px unless
  `smooth` says otherwise); the score is its maximum: one bright spot is enough.

`smooth` (sigma in pixels) smooths any map with a Gaussian before the score is taken.
Every step is a TensorFlow op that tf2onnx converts, so the exported scorer computes the
same numbers (caegen.export.scorer_onnx).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from caegen.core.diagnostics import error

KINDS = ("mse", "ssim", "max-residual")
DEFAULT_SMOOTH = {"mse": 0.0, "ssim": 0.0, "max-residual": 2.0}
SSIM_SIGMA, SSIM_TRUNCATE = 1.5, 3.5  # an 11-tap window, as scikit-image and Wang et al.
SSIM_K1, SSIM_K2 = 0.01, 0.03
SMOOTH_TRUNCATE = 4.0  # scipy.ndimage's default


@dataclass(frozen=True)
class ScoreKind:
    """How images are scored: the map, its smoothing (sigma in px, 0: none), the range."""

    kind: str
    smooth: float
    data_range: float

    @classmethod
    def make(cls, kind: str, smooth: float | None, data_range: str) -> ScoreKind:
        if kind not in KINDS:
            raise error("E096", f"unknown score `{kind}`", f"choose {', '.join(KINDS)}")
        sigma = DEFAULT_SMOOTH[kind] if smooth is None else float(smooth)
        return cls(kind, sigma, 2.0 if data_range == "symmetric" else 1.0)

    def describe(self) -> str:
        what = {
            "mse": "squared residual per pixel, mean per image",
            "ssim": "1 - SSIM per pixel (11x11 Gaussian window), mean per image",
            "max-residual": "squared residual per pixel, max per image",
        }[self.kind]
        smooth = f", Gaussian smoothing sigma {self.smooth:g} px" if self.smooth else ""
        return f"{self.kind} ({what}{smooth})"

    def check_size(self, height: int, width: int) -> None:
        """The windows must fit the images (mirrored edges reach one image width)."""
        needed = max(
            radius(SSIM_SIGMA, SSIM_TRUNCATE) if self.kind == "ssim" else 0,
            radius(self.smooth, SMOOTH_TRUNCATE) if self.smooth else 0,
        )
        if needed >= min(height, width):
            raise error(
                "E096",
                f"score {self.kind} with smoothing sigma {self.smooth:g} reaches {needed} "
                f"pixels around each pixel; the images are only {height}x{width}",
                "use a smaller --smooth, or another --score",
            )


def radius(sigma: float, truncate: float) -> int:
    return int(truncate * sigma + 0.5)


def gaussian_taps(sigma: float, truncate: float) -> np.ndarray:
    """The normalized 1-D Gaussian of scipy.ndimage.gaussian_filter (same radius)."""
    r = radius(sigma, truncate)
    x = np.arange(-r, r + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def _mirror(x: Any, r: int, axis: int) -> Any:
    """Pad r values on both sides of `axis` by mirroring the edge (d c b a | a b c d)."""
    import tensorflow as tf

    n = x.shape[axis]
    head = tf.gather(x, list(range(r - 1, -1, -1)), axis=axis)
    tail = tf.gather(x, list(range(n - 1, n - r - 1, -1)), axis=axis)
    return tf.concat([head, x, tail], axis=axis)


def blur(x: Any, taps: np.ndarray) -> Any:
    """Separable Gaussian of (N, H, W, C) per channel, edges mirrored: the output has the
    input's size (scipy.ndimage mode 'reflect')."""
    import tensorflow as tf

    r = len(taps) // 2
    if r == 0:
        return x
    channels = x.shape[-1]
    column = np.tile(taps.reshape(-1, 1, 1, 1), (1, 1, channels, 1))
    row = np.tile(taps.reshape(1, -1, 1, 1), (1, 1, channels, 1))
    x = _mirror(_mirror(x, r, 1), r, 2)
    x = tf.nn.depthwise_conv2d(x, tf.constant(column), [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, tf.constant(row), [1, 1, 1, 1], "VALID")


def ssim_map(x: Any, y: Any, data_range: float) -> Any:
    """SSIM at every pixel of (N, H, W, C) images, averaged over the channels: (N, H, W)."""
    import tensorflow as tf

    taps = gaussian_taps(SSIM_SIGMA, SSIM_TRUNCATE)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = blur(x, taps), blur(y, taps)
    var_x = blur(x * x, taps) - mu_x * mu_x
    var_y = blur(y * y, taps) - mu_y * mu_y
    cov = blur(x * y, taps) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return tf.reduce_mean(num / den, axis=-1)


def anomaly_maps(x: Any, reconstruction: Any, kind: ScoreKind) -> tuple[Any, Any]:
    """(maps (N, H, W), scores (N,)) of images and their reconstructions."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    reconstruction = tf.cast(reconstruction, tf.float32)
    if kind.kind == "ssim":
        maps = 1.0 - ssim_map(x, reconstruction, kind.data_range)
    else:
        maps = tf.reduce_mean(tf.square(x - reconstruction), axis=-1)
    if kind.smooth:
        maps = blur(maps[..., None], gaussian_taps(kind.smooth, SMOOTH_TRUNCATE))[..., 0]
    reduce = tf.reduce_max if kind.kind == "max-residual" else tf.reduce_mean
    return maps, reduce(maps, axis=[1, 2])


def scorer_function(model: Any, input_shape: tuple[int, int, int], kind: ScoreKind) -> Any:
    """x -> {reconstruction, anomaly_map, score}, traced once for any batch size."""
    import tensorflow as tf

    signature = tf.TensorSpec((None, *input_shape), tf.float32, name="input")

    def score(x: Any) -> dict[str, Any]:
        reconstruction = tf.cast(model(x, training=False), tf.float32)
        maps, scores = anomaly_maps(x, reconstruction, kind)
        return {"reconstruction": reconstruction, "anomaly_map": maps, "score": scores}

    return tf.function(score, input_signature=(signature,))
