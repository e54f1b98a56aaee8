"""Activation layers with arguments: leaky_relu, relu, elu, prelu (Keras 3 names).

`{type: activation, activation: leaky_relu}` uses Keras's function default slope (0.2);
the `leaky_relu` layer is `keras.layers.LeakyReLU`, whose `negative_slope` defaults to 0.3.
"""

from math import prod
from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict

from caegen.core.limits import MAX_INT
from caegen.spec.layers.base import (
    FLOAT_MAX,
    LayerBase,
    NonNegativeFloat,
    ParamCount,
    Shape,
    ShapeError,
    fmt_shape,
)

Slope = Annotated[float, Strict(), Field(ge=0.0, le=FLOAT_MAX)]


class _ActivationLayer(LayerBase):
    is_activation_layer: ClassVar[bool] = True


class LeakyReLU(_ActivationLayer):
    """`keras.layers.LeakyReLU`: x for x >= 0, negative_slope * x below."""

    type: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: Slope = Field(default=0.3, description="Keras's default is 0.3")
    keras_class: ClassVar[str] = "LeakyReLU"

    @property
    def activation_name(self) -> str:
        return "leaky_relu"


class ReLU(_ActivationLayer):
    """`keras.layers.ReLU`: optionally capped (`max_value`), leaky, or thresholded."""

    type: Literal["relu"] = "relu"
    max_value: NonNegativeFloat | None = Field(default=None, description="e.g. 6.0 for relu6")
    negative_slope: Slope = 0.0
    threshold: Annotated[float, Strict(), Field(ge=-FLOAT_MAX, le=FLOAT_MAX)] = 0.0
    keras_class: ClassVar[str] = "ReLU"

    @property
    def activation_name(self) -> str:
        return "relu" if self.negative_slope == 0 and self.threshold >= 0 else "leaky_relu"


class ELU(_ActivationLayer):
    """`keras.layers.ELU`: x for x > 0, alpha * (exp(x) - 1) below."""

    type: Literal["elu"] = "elu"
    alpha: Annotated[float, Strict(), Field(ge=-FLOAT_MAX, le=FLOAT_MAX)] = 1.0
    keras_class: ClassVar[str] = "ELU"

    @property
    def activation_name(self) -> str:
        return "elu"


class PReLU(_ActivationLayer):
    """`keras.layers.PReLU`: a learned slope per element, shared over `shared_axes`.

    `shared_axes` counts axes as Keras does, over the batched shape: [1, 2] shares one
    slope per channel across height and width.
    """

    type: Literal["prelu"] = "prelu"
    shared_axes: list[Annotated[int, Strict(), Field(ge=1, le=MAX_INT)]] | None = None
    keras_class: ClassVar[str] = "PReLU"

    @property
    def activation_name(self) -> str:
        return "prelu"

    def _alpha_shape(self, shape: Shape) -> Shape:
        axes = self.shared_axes or []
        bad = [a for a in axes if a > len(shape)]
        if bad:
            raise ShapeError(
                f"prelu shared_axes {axes} name axis {bad[0]}, but the input "
                f"{fmt_shape(shape)} has axes 1..{len(shape)} (0 is the batch)",
                f"use axes between 1 and {len(shape)}",
                field="shared_axes",
            )
        return tuple(1 if i + 1 in axes else d for i, d in enumerate(shape))

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        self._alpha_shape(in_shapes[0])
        return in_shapes[0]

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        return ParamCount(prod(self._alpha_shape(in_shapes[0])))


__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU"]
