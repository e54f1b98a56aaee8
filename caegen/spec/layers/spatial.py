"""Spatial resampling: max_pool2d, avg_pool2d, upsampling2d, zero_padding2d, cropping2d."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from caegen.spec.layers.base import (
    IntPair,
    LayerBase,
    NonNegativeInt,
    Padding,
    Shape,
    ShapeError,
    fmt_shape,
    require_rank,
)
from caegen.spec.layers.shape_rules import pool_length

FEATURE_MAP = "a feature map H x W x C"


class _Pool(LayerBase):
    pool_size: IntPair = (2, 2)
    strides: IntPair | None = Field(default=None, description="default: pool_size")
    padding: Padding = "same"

    @property
    def window_strides(self) -> tuple[int, int]:
        return self.strides or self.pool_size  # type: ignore[return-value]

    def keras_kwargs(self) -> dict[str, Any]:
        return {**super().keras_kwargs(), "strides": self.window_strides}

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = in_shapes[0]
        require_rank(self, shape, 3, FEATURE_MAP)
        out = tuple(
            pool_length(shape[i], self.pool_size[i], self.window_strides[i], self.padding)
            for i in (0, 1)
        )
        if min(out) <= 0:
            raise ShapeError(
                f"a {fmt_shape(self.pool_size)} `valid` pool does not fit in the "
                f"{fmt_shape(shape[:2])} input",
                "use padding: same or a smaller pool_size",
                field="pool_size",
            )
        return (*out, shape[2])


class MaxPool2D(_Pool):
    """Max pooling (`keras.layers.MaxPooling2D`)."""

    type: Literal["max_pool2d"] = "max_pool2d"
    keras_class: ClassVar[str] = "MaxPooling2D"


class AvgPool2D(_Pool):
    """Average pooling (`keras.layers.AveragePooling2D`)."""

    type: Literal["avg_pool2d"] = "avg_pool2d"
    keras_class: ClassVar[str] = "AveragePooling2D"


class UpSampling2D(LayerBase):
    """Repeat rows and columns (`keras.layers.UpSampling2D`)."""

    type: Literal["upsampling2d"] = "upsampling2d"
    size: IntPair = (2, 2)
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = (
        "nearest"
    )
    keras_class: ClassVar[str] = "UpSampling2D"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = in_shapes[0]
        require_rank(self, shape, 3, FEATURE_MAP)
        return (shape[0] * self.size[0], shape[1] * self.size[1], shape[2])


class GlobalAveragePooling2D(LayerBase):
    """`keras.layers.GlobalAveragePooling2D`: the mean of each channel, (C,) or (1, 1, C)."""

    type: Literal["global_average_pooling2d"] = "global_average_pooling2d"
    keepdims: bool = Field(default=False, description="true: keep a 1 x 1 x C feature map")
    keras_class: ClassVar[str] = "GlobalAveragePooling2D"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = in_shapes[0]
        require_rank(self, shape, 3, FEATURE_MAP)
        return (1, 1, shape[2]) if self.keepdims else (shape[2],)


def _as_borders(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return ((value, value), (value, value))
    h, w = value
    h = (h, h) if isinstance(h, int) else tuple(h)
    w = (w, w) if isinstance(w, int) else tuple(w)
    return (h, w)  # type: ignore[return-value]


_Side = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]
Borders = Annotated[
    NonNegativeInt | tuple[_Side, _Side],
    AfterValidator(_as_borders),
    Field(description="an int, [rows, cols], or [[top, bottom], [left, right]]"),
]


class ZeroPadding2D(LayerBase):
    """Pad rows and columns with zeros (`keras.layers.ZeroPadding2D`)."""

    type: Literal["zero_padding2d"] = "zero_padding2d"
    padding: Borders = ((1, 1), (1, 1))
    keras_class: ClassVar[str] = "ZeroPadding2D"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = in_shapes[0]
        require_rank(self, shape, 3, FEATURE_MAP)
        (t, b), (left, r) = self.padding
        return (shape[0] + t + b, shape[1] + left + r, shape[2])


class Cropping2D(LayerBase):
    """Remove rows and columns at the borders (`keras.layers.Cropping2D`)."""

    type: Literal["cropping2d"] = "cropping2d"
    cropping: Borders = ((0, 0), (0, 0))
    keras_class: ClassVar[str] = "Cropping2D"

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = in_shapes[0]
        require_rank(self, shape, 3, FEATURE_MAP)
        (t, b), (left, r) = self.cropping
        out = (shape[0] - t - b, shape[1] - left - r, shape[2])
        if min(out[:2]) <= 0:
            raise ShapeError(
                f"cropping {list(map(list, self.cropping))} removes the whole "
                f"{fmt_shape(shape[:2])} input",
                "crop fewer rows/columns",
                field="cropping",
            )
        return out
