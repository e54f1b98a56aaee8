"""Feature maps of one image before and after each layer's activation, from Keras sub-models.

One sub-model of the run's autoencoder returns the input and the output of every layer
drawn, for the chosen image, in inference mode (dropout and noise off; a VAE's sampling
layer gives the mean). A layer with a fused `activation:` is split for the picture: its
pre-activation is its linear output (the same layer and weights with a linear activation,
applied to its input), its post-activation the layer's output. An activation layer shows
its input and its output; other layers too, labelled input and output; a merge (several
inputs) only its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from caegen.inspect.layers import Target


@dataclass(frozen=True)
class Maps:
    """One image's values at a layer: `before` (None for a merge) and `after`, without the
    batch axis."""

    before: np.ndarray | None
    after: np.ndarray
    before_label: str
    after_label: str

    @property
    def zero_share(self) -> float:
        """The share of the output's units that are exactly 0 (dead units after a relu)."""
        return float(np.mean(self.after == 0))


def feature_maps(model: Any, targets: list[Target], x: np.ndarray) -> dict[str, Maps]:
    """Each target's maps for the batch of one image `x` (shape (1, H, W, C))."""
    import keras

    tensors: list[Any] = []
    slots: dict[int, int] = {}

    def slot(tensor: Any) -> int:
        if id(tensor) not in slots:
            slots[id(tensor)] = len(tensors)
            tensors.append(tensor)
        return slots[id(tensor)]

    wanted: dict[str, tuple[int | None, int]] = {}
    for target in targets:
        layer = model.get_layer(target.name)
        wanted[target.name] = (None if target.merges else slot(layer.input), slot(layer.output))
    probe = keras.Model(model.inputs[0], tensors, name="inspect-probe")
    outputs = probe(x, training=False)
    values = [np.asarray(v, dtype=np.float32)[0] for v in _as_list(outputs)]
    maps: dict[str, Maps] = {}
    for target in targets:
        before_slot, after_slot = wanted[target.name]
        before = None if before_slot is None else values[before_slot]
        if target.fused and before is not None:
            before = linear_output(model.get_layer(target.name), before)
        maps[target.name] = Maps(before, values[after_slot], *_labels(target))
    return maps


def linear_output(layer: Any, inputs: np.ndarray) -> np.ndarray:
    """The layer's output without its activation: a linear copy of it, on one input."""
    config = {**layer.get_config(), "activation": "linear"}
    linear = type(layer).from_config(config)
    linear.build(tuple(layer.input.shape))
    linear.set_weights(layer.get_weights())
    return np.asarray(linear(inputs[None]), dtype=np.float32)[0]


def layer_weights(model: Any, name: str) -> dict[str, np.ndarray]:
    """A layer's weights by Keras name (`kernel`, `bias`, `depthwise_kernel`, ...)."""
    return {w.name: np.asarray(w.numpy(), dtype=np.float32) for w in model.get_layer(name).weights}


def _labels(target: Target) -> tuple[str, str]:
    if target.activation is not None:
        return f"before {target.activation}", f"after {target.activation}"
    return "input", "output"


def _as_list(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, list | tuple) else [outputs]
