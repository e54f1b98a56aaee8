"""caegen's own losses: registered serializable classes, so checkpoints and saved models
that were compiled with them load with `keras.saving.load_model(path, safe_mode=True)`.

`ssim` is 1 - SSIM per image with Bergmann et al.'s settings (an 11x11 Gaussian window of
sigma 1.5, K1 = 0.01, K2 = 0.03), computed by TensorFlow's `tf.image.ssim` (the mean over
the window positions inside the image, then over the channels).
"""

from __future__ import annotations

from typing import Any

import keras

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def ssim_error(y_true: Any, y_pred: Any, max_val: float = 1.0) -> Any:
    """1 - SSIM of each image, shape (batch,)."""
    import tensorflow as tf

    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    similarity = tf.image.ssim(
        y_true,
        y_pred,
        max_val=max_val,
        filter_size=SSIM_WINDOW,
        filter_sigma=SSIM_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )
    return 1.0 - similarity


@keras.saving.register_keras_serializable(package="caegen")
class SSIMLoss(keras.losses.Loss):
    """1 - SSIM, averaged over the batch. `max_val`: the data range's width (1 or 2)."""

    def __init__(self, max_val: float = 1.0, name: str = "ssim", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.max_val = max_val

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return ssim_error(y_true, y_pred, self.max_val)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_val": self.max_val}


@keras.saving.register_keras_serializable(package="caegen")
class SSIMError(keras.metrics.MeanMetricWrapper):
    """The SSIM loss as a metric (the reconstruction error without any penalty)."""

    def __init__(
        self, max_val: float = 1.0, name: str = "reconstruction_error", **kwargs: Any
    ) -> None:
        kwargs.pop("fn", None)
        super().__init__(fn=ssim_error, name=name, max_val=max_val, **kwargs)
        self.max_val = max_val

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "max_val": self.max_val}


def data_range_width(data_range: str) -> float:
    return 2.0 if data_range == "symmetric" else 1.0
