"""Convolutions: conv2d, conv2d_transpose, separable_conv2d, depthwise_conv2d."""

from typing import ClassVar, Literal

from pydantic import model_validator

from caegen.spec.layers.base import (
    Activation,
    IntPair,
    LayerBase,
    NonNegativeIntPair,
    Padding,
    ParamCount,
    PositiveInt,
    Shape,
    ShapeError,
    WeightFields,
    cross_field_error,
    fmt_shape,
    require_rank,
)
from caegen.spec.layers.shape_rules import conv_length, conv_transpose_length, dilated


class _Conv(LayerBase):
    kernel_size: IntPair
    strides: IntPair = (1, 1)
    padding: Padding = "same"
    dilation_rate: IntPair = (1, 1)
    activation: Activation = "linear"
    use_bias: bool = True

    rejects_strided_dilation: ClassVar[bool] = True
    needs_equal_strides: ClassVar[bool] = False
    """TensorFlow's default CPU kernel for undilated separable and depthwise convolutions takes
    one stride for both axes (oneDNN builds take any): the W109 lint reports it."""

    @property
    def backend_dependent(self) -> str | None:
        """Why this layer runs only on some TensorFlow kernels, or None (see W109)."""
        # A dilated depthwise conv goes through space-to-batch, which takes any strides.
        undilated = self.dilation_rate == (1, 1)
        if self.needs_equal_strides and undilated and self.strides[0] != self.strides[1]:
            return f"{self.type} with unequal strides {list(self.strides)}"
        return None

    @model_validator(mode="after")
    def _strides_or_dilation(self) -> "_Conv":
        if self.rejects_strided_dilation and max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise cross_field_error(
                "dilation_rate",
                f"dilation_rate {list(self.dilation_rate)} cannot be combined with strides "
                f"{list(self.strides)}: Keras "
                "refuses a strided dilated convolution",
                "use strides: 1 with the dilation (downsample in a separate layer), or "
                "dilation_rate: 1",
            )
        return self

    def _spatial(self, shape: Shape) -> tuple[int, int]:
        require_rank(self, shape, 3, "a feature map H x W x C")
        out = tuple(
            conv_length(
                shape[i], self.kernel_size[i], self.strides[i], self.padding, self.dilation_rate[i]
            )
            for i in (0, 1)
        )
        if min(out) <= 0:
            k = [dilated(k, d) for k, d in zip(self.kernel_size, self.dilation_rate, strict=False)]
            raise ShapeError(
                f"a {'x'.join(map(str, k))} `valid` window does not fit in the "
                f"{fmt_shape(shape[:2])} input of {self.type}",
                "use padding: same, a smaller kernel_size, or keep a larger feature map",
                field="kernel_size",
            )
        return out  # type: ignore[return-value]

    @property
    def window_strides(self) -> tuple[int, int]:
        return self.strides  # type: ignore[return-value]

    def _kernel_area(self) -> int:
        return self.kernel_size[0] * self.kernel_size[1]


class Conv2D(WeightFields, _Conv):
    """A 2-D convolution (`keras.layers.Conv2D`)."""

    type: Literal["conv2d"] = "conv2d"
    filters: PositiveInt
    keras_class: ClassVar[str] = "Conv2D"
    kernel_regularizer_args: ClassVar[tuple[str, ...]] = ("kernel_regularizer",)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return (*self._spatial(in_shapes[0]), self.filters)

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        c = in_shapes[0][-1]
        return ParamCount(self._kernel_area() * c * self.filters + self.filters * self.use_bias)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return out_shape[0] * out_shape[1] * self.filters * self._kernel_area() * in_shapes[0][-1]


class Conv2DTranspose(WeightFields, _Conv):
    """A transposed 2-D convolution (`keras.layers.Conv2DTranspose`)."""

    type: Literal["conv2d_transpose"] = "conv2d_transpose"
    filters: PositiveInt
    output_padding: NonNegativeIntPair | None = None
    keras_class: ClassVar[str] = "Conv2DTranspose"
    kernel_regularizer_args: ClassVar[tuple[str, ...]] = ("kernel_regularizer",)

    @model_validator(mode="after")
    def _output_padding_below_strides(self) -> "Conv2DTranspose":
        if self.output_padding is not None and any(
            p >= s for p, s in zip(self.output_padding, self.strides, strict=False)
        ):
            raise cross_field_error(
                "output_padding",
                f"output_padding {list(self.output_padding)} must be smaller than strides "
                f"{list(self.strides)} on each "
                "axis",
                "use output_padding 0 (or up to strides - 1) on each axis, or leave it out to "
                "let Keras infer it",
            )
        return self

    @property
    def backend_dependent(self) -> str | None:
        if max(self.dilation_rate) > 1:
            return f"conv2d_transpose with dilation_rate {list(self.dilation_rate)}"
        return None

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = in_shapes[0]
        require_rank(self, shape, 3, "a feature map H x W x C")
        out = tuple(
            conv_transpose_length(
                shape[i],
                self.kernel_size[i],
                self.strides[i],
                self.padding,
                None if self.output_padding is None else self.output_padding[i],
                self.dilation_rate[i],
            )
            for i in (0, 1)
        )
        if min(out) <= 0:
            raise ShapeError(
                f"conv2d_transpose produces an empty {fmt_shape(out)} feature map",
                "increase output_padding or use an odd kernel_size",
                field="output_padding",
                code="E032",
            )
        self._check_invertible()
        return (*out, self.filters)

    def _check_invertible(self) -> None:
        # TensorFlow computes a transposed conv as the gradient of a forward conv, which
        # must map the output back onto the input: with `same` padding that needs
        # k % 2 + output_padding >= 1. Keras's static shape misses it; the op fails at run.
        if self.padding != "same" or self.output_padding is None:
            return
        for axis in (0, 1):
            k = dilated(self.kernel_size[axis], self.dilation_rate[axis])
            if k % 2 == 0 and self.output_padding[axis] == 0:
                raise ShapeError(
                    f"conv2d_transpose with an even kernel ({k}) and output_padding 0 under "
                    "padding same cannot be computed (TensorFlow rejects it at run time)",
                    "use output_padding 1 on that axis, an odd kernel_size, or leave "
                    "output_padding out",
                    field="output_padding",
                )

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        c = in_shapes[0][-1]
        return ParamCount(self._kernel_area() * c * self.filters + self.filters * self.use_bias)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        h, w, c = in_shapes[0]
        return h * w * c * self._kernel_area() * self.filters


class SeparableConv2D(_Conv):
    """A depthwise then pointwise convolution (`keras.layers.SeparableConv2D`)."""

    type: Literal["separable_conv2d"] = "separable_conv2d"
    filters: PositiveInt
    depth_multiplier: PositiveInt = 1
    keras_class: ClassVar[str] = "SeparableConv2D"
    kernel_regularizer_args: ClassVar[tuple[str, ...]] = (
        "depthwise_regularizer",
        "pointwise_regularizer",
    )
    rejects_strided_dilation: ClassVar[bool] = False
    needs_equal_strides: ClassVar[bool] = True

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return (*self._spatial(in_shapes[0]), self.filters)

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        c = in_shapes[0][-1]
        depthwise = self._kernel_area() * c * self.depth_multiplier
        pointwise = c * self.depth_multiplier * self.filters
        return ParamCount(depthwise + pointwise + self.filters * self.use_bias)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        c = in_shapes[0][-1]
        positions = out_shape[0] * out_shape[1]
        depthwise = positions * self._kernel_area() * c * self.depth_multiplier
        return depthwise + positions * c * self.depth_multiplier * self.filters


class DepthwiseConv2D(_Conv):
    """One filter per input channel (`keras.layers.DepthwiseConv2D`)."""

    type: Literal["depthwise_conv2d"] = "depthwise_conv2d"
    depth_multiplier: PositiveInt = 1
    keras_class: ClassVar[str] = "DepthwiseConv2D"
    kernel_regularizer_args: ClassVar[tuple[str, ...]] = ("depthwise_regularizer",)
    rejects_strided_dilation: ClassVar[bool] = False
    needs_equal_strides: ClassVar[bool] = True

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return (*self._spatial(in_shapes[0]), in_shapes[0][-1] * self.depth_multiplier)

    def params(self, in_shapes: list[Shape]) -> ParamCount:
        out_c = in_shapes[0][-1] * self.depth_multiplier
        return ParamCount(self._kernel_area() * out_c + out_c * self.use_bias)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return out_shape[0] * out_shape[1] * out_shape[2] * self._kernel_area()
