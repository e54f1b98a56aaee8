"""The layer types of the spec language, one class each, joined in `LayerSpec`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from caegen.spec.layers.activations import ELU, LeakyReLU, PReLU, ReLU
from caegen.spec.layers.base import LayerBase, ParamCount, Shape, ShapeError, fmt_shape
from caegen.spec.layers.conv import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from caegen.spec.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    GaussianNoise,
    Reshape,
    SpatialDropout2D,
)
from caegen.spec.layers.merging import Add, Concatenate, Multiply
from caegen.spec.layers.normalization import BatchNorm, GroupNorm, LayerNorm
from caegen.spec.layers.sampling import Sampling
from caegen.spec.layers.spatial import (
    AvgPool2D,
    Cropping2D,
    GlobalAveragePooling2D,
    MaxPool2D,
    UpSampling2D,
    ZeroPadding2D,
)

LAYER_TYPES: tuple[type[LayerBase], ...] = (
    Conv2D,
    Conv2DTranspose,
    SeparableConv2D,
    DepthwiseConv2D,
    MaxPool2D,
    AvgPool2D,
    UpSampling2D,
    BatchNorm,
    LayerNorm,
    GroupNorm,
    GlobalAveragePooling2D,
    Activation,
    LeakyReLU,
    ReLU,
    ELU,
    PReLU,
    Dropout,
    SpatialDropout2D,
    GaussianNoise,
    Dense,
    Flatten,
    Reshape,
    ZeroPadding2D,
    Cropping2D,
    Add,
    Multiply,
    Concatenate,
    Sampling,
)

LayerSpec = Annotated[
    Conv2D
    | Conv2DTranspose
    | SeparableConv2D
    | DepthwiseConv2D
    | MaxPool2D
    | AvgPool2D
    | UpSampling2D
    | BatchNorm
    | LayerNorm
    | GroupNorm
    | GlobalAveragePooling2D
    | Activation
    | LeakyReLU
    | ReLU
    | ELU
    | PReLU
    | Dropout
    | SpatialDropout2D
    | GaussianNoise
    | Dense
    | Flatten
    | Reshape
    | ZeroPadding2D
    | Cropping2D
    | Add
    | Multiply
    | Concatenate
    | Sampling,
    Field(discriminator="type"),
]
"""One layer entry of an encoder or decoder, chosen by its `type`."""

LAYER_BY_TYPE: dict[str, type[LayerBase]] = {
    cls.model_fields["type"].default: cls for cls in LAYER_TYPES
}

__all__ = [
    "LAYER_BY_TYPE",
    "LAYER_TYPES",
    "LayerBase",
    "LayerSpec",
    "ParamCount",
    "Shape",
    "ShapeError",
    "fmt_shape",
]
