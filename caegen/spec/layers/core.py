"""Core layers: activation, dropout, gaussian_noise, dense, flatten, reshape."""

from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, Strict, field_validator

from caegen.core.limits import MAX_INT
from caegen.spec.layers.base import (
    Activation as ActivationName,
)
from caegen.spec.layers.base import (
    LayerBase,
    NonNegativeFloat,
    ParamCount,
    PositiveInt,
    Probability,
    Shape,
    ShapeError,
    WeightFields,
    fmt_shape,
    require_rank,
    spatial_elements,
)


class Activation(LayerBase):
    """A standalone non-linearity (`keras.layers.Activation`)."""

    type: Literal["activation"] = "activation"
    activation: ActivationName
    keras_class: ClassVar[str] = "Activation"


class Dropout(LayerBase):
    """`keras.layers.Dropout` (training only)."""

    type: Literal["dropout"] = "dropout"
    rate: Probability
    keras_class: ClassVar[str] = "Dropout"


class SpatialDropout2D(LayerBase):
    """`keras.layers.SpatialDropout2D`: drops whole channels of a feature map (training only)."""

    type: Literal["spatial_dropout2d"] = "spatial_dropout2d"
    rate: Probability
    keras_class: ClassVar[str] = "SpatialDropout2D"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        require_rank(self, in_shapes[0], 3, "a feature map H x W x C")
        return in_shapes[0]


class GaussianNoise(LayerBase):
    """`keras.layers.GaussianNoise` (training only)."""

    type: Literal["gaussian_noise"] = "gaussian_noise"
    stddev: NonNegativeFloat
    keras_class: ClassVar[str] = "GaussianNoise"


class Dense(WeightFields, LayerBase):
    """`keras.layers.Dense`; on a feature map it acts on the channel (last) axis."""

    type: Literal["dense"] = "dense"
    units: PositiveInt
    activation: ActivationName = "linear"
    use_bias: bool = True
    keras_class: ClassVar[str] = "Dense"
    kernel_regularizer_args: ClassVar[tuple[str, ...]] = ("kernel_regularizer",)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return (*in_shapes[0][:-1], self.units)

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        return ParamCount(in_shapes[0][-1] * self.units + self.units * self.use_bias)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return spatial_elements(in_shapes[0]) * in_shapes[0][-1] * self.units


class Flatten(LayerBase):
    """`keras.layers.Flatten`."""

    type: Literal["flatten"] = "flatten"
    keras_class: ClassVar[str] = "Flatten"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return (prod(in_shapes[0]),)

    def keras_kwargs(self) -> dict[str, Any]:
        return {}


TargetDim = Annotated[
    int, Strict(), Field(ge=-1, le=MAX_INT, json_schema_extra={"not": {"const": 0}})
]


class Reshape(LayerBase):
    """`keras.layers.Reshape`; one entry of `target_shape` may be -1 (inferred)."""

    type: Literal["reshape"] = "reshape"
    target_shape: tuple[TargetDim, ...] = Field(min_length=1)
    keras_class: ClassVar[str] = "Reshape"

    @field_validator("target_shape")
    @classmethod
    def _one_unknown_no_zero(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if 0 in value:
            raise ValueError("target_shape entries must be positive (or a single -1)")
        if value.count(-1) > 1:
            raise ValueError("target_shape may contain -1 at most once")
        return value

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        elements = prod(in_shapes[0])
        known = prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if elements % known != 0:
                raise ShapeError(
                    f"cannot reshape {fmt_shape(in_shapes[0])} ({elements} values) to "
                    f"{list(self.target_shape)}: {elements} is not a multiple of {known}",
                    "choose a target_shape whose known dimensions divide the element count",
                    field="target_shape",
                )
            return tuple(elements // known if d == -1 else d for d in self.target_shape)
        if known != elements:
            raise ShapeError(
                f"cannot reshape {fmt_shape(in_shapes[0])} ({elements} values) to "
                f"{fmt_shape(self.target_shape)} ({known} values)",
                "the target_shape must hold the same number of values; use -1 for one "
                "dimension to infer it",
                field="target_shape",
            )
        return self.target_shape
