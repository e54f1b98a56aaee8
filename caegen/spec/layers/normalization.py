"""Normalization over the channel (last) axis: batch_norm, layer_norm, group_norm."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict

from caegen.spec.layers.base import (
    LayerBase,
    ParamCount,
    PositiveFloat,
    PositiveInt,
    Shape,
    ShapeError,
)

Epsilon = PositiveFloat


class _ChannelNorm(LayerBase):
    """Normalization with a learned scale (gamma) and offset (beta) per channel."""

    epsilon: Epsilon = 0.001
    center: bool = True
    scale: bool = True

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        return ParamCount(in_shapes[0][-1] * (self.center + self.scale))


class BatchNorm(_ChannelNorm):
    """`keras.layers.BatchNormalization`: gamma/beta trainable, moving mean/variance not."""

    type: Literal["batch_norm"] = "batch_norm"
    momentum: Annotated[float, Strict(), Field(ge=0.0, le=1.0)] = 0.99
    keras_class: ClassVar[str] = "BatchNormalization"

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        return super().params(in_shapes) + ParamCount(non_trainable=2 * in_shapes[0][-1])


class LayerNorm(_ChannelNorm):
    """`keras.layers.LayerNormalization` over the last axis."""

    type: Literal["layer_norm"] = "layer_norm"
    keras_class: ClassVar[str] = "LayerNormalization"


class GroupNorm(_ChannelNorm):
    """`keras.layers.GroupNormalization`: channels split into `groups`."""

    type: Literal["group_norm"] = "group_norm"
    groups: PositiveInt = 32
    keras_class: ClassVar[str] = "GroupNormalization"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        c = in_shapes[0][-1]
        if c % self.groups != 0:
            divisors = [d for d in range(1, c + 1) if c % d == 0]
            raise ShapeError(
                f"group_norm with groups={self.groups} cannot split {c} channels evenly",
                f"use groups in {divisors}",
                field="groups",
            )
        return in_shapes[0]
