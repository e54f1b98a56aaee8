"""Batch-norm population statistics computed apart from caegen's recalibration pass: for
each layer, a Keras sub-model from the model's input to that layer's input, run over the
images, and numpy's mean and variance of what it returns."""

from __future__ import annotations

import numpy as np


def population_statistics(model, images: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer name: (mean, variance)} of each BatchNormalization layer's inputs."""
    import keras

    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            sub = keras.Model(model.inputs, layer.input)
            x = sub.predict(images, batch_size=256, verbose=0).astype(np.float64)
            axes = tuple(range(x.ndim - 1))
            out[layer.name] = (x.mean(axis=axes), x.var(axis=axes))
    return out


def assert_settled(model, images: np.ndarray, tolerance: float = 1e-5) -> int:
    """Every batch-norm layer's moving statistics are its inputs' population statistics
    over `images` (each layer's inputs computed with the layers before it as they are).
    Returns how many layers were checked."""
    expected = population_statistics(model, images)
    for name, (mean, variance) in expected.items():
        layer = model.get_layer(name)
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(
            layer.moving_variance.numpy(), variance, rtol=tolerance, atol=tolerance
        )
    return len(expected)
