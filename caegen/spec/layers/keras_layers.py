"""caegen's own Keras layers: registered serializable classes (no Lambda), so saved models
load with `keras.saving.load_model(path, safe_mode=True)`."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="caegen")
class Sampling(keras.layers.Layer):
    """z = mean + exp(log_var / 2) * eps in training (adding the weighted KL to the loss);
    the mean in inference. The KL weight is a variable, so a warm-up can change it per
    epoch and a checkpoint keeps it."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.kl_weight = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="kl_weight"
        )
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        mean, log_var = inputs
        # the KL term in float32 even under mixed precision: it joins float32 losses, and
        # exp(log_var) overflows float16 early
        mean32, log_var32 = ops.cast(mean, "float32"), ops.cast(log_var, "float32")
        kl = -0.5 * (1.0 + log_var32 - ops.square(mean32) - ops.exp(log_var32))
        axes = tuple(range(1, len(mean.shape)))
        kl_per_image = ops.sum(kl, axis=axes)
        self.add_loss(ops.cast(self.kl_weight, "float32") * ops.mean(kl_per_image))
        self.kl_tracker.update_state(kl_per_image)
        if not training:
            return mean
        eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]
