"""Per layer type: output shape and parameter counts, table-driven, failing cases included.

The numbers are the ones Keras reports (the differential tests check them against real
Keras models; these pin them without importing TensorFlow).
"""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from caegen.spec.layers import LAYER_BY_TYPE, LayerSpec, ShapeError

ADAPTER = TypeAdapter(LayerSpec)


def layer(**fields):
    return ADAPTER.validate_python(fields)


@pytest.mark.parametrize(
    ("fields", "inputs", "shape", "trainable", "non_trainable"),
    [
        ({"type": "conv2d", "filters": 64, "kernel_size": 3}, [(32, 32, 3)], (32, 32, 64), 1792, 0),
        (
            {"type": "conv2d", "filters": 8, "kernel_size": [3, 5], "padding": "valid"},
            [(10, 10, 2)],
            (8, 6, 8),
            248,
            0,
        ),
        (
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "use_bias": False},
            [(5, 5, 2)],
            (5, 5, 4),
            72,
            0,
        ),
        (
            {"type": "conv2d", "filters": 2, "kernel_size": 7, "padding": "valid"},
            [(7, 7, 64)],
            (1, 1, 2),
            6274,
            0,
        ),
        (
            {"type": "conv2d_transpose", "filters": 32, "kernel_size": 3, "strides": 2},
            [(7, 7, 64)],
            (14, 14, 32),
            18464,
            0,
        ),
        (
            {"type": "conv2d_transpose", "filters": 64, "kernel_size": 7, "padding": "valid"},
            [(1, 1, 2)],
            (7, 7, 64),
            6336,
            0,
        ),
        (
            {"type": "separable_conv2d", "filters": 8, "kernel_size": 3},
            [(4, 4, 3)],
            (4, 4, 8),
            59,
            0,
        ),
        (
            {"type": "depthwise_conv2d", "kernel_size": 3, "depth_multiplier": 2},
            [(6, 6, 3)],
            (6, 6, 6),
            60,
            0,
        ),
        ({"type": "max_pool2d"}, [(7, 7, 5)], (4, 4, 5), 0, 0),
        ({"type": "max_pool2d", "padding": "valid"}, [(7, 7, 5)], (3, 3, 5), 0, 0),
        (
            {"type": "avg_pool2d", "pool_size": 3, "strides": 1, "padding": "valid"},
            [(8, 8, 1)],
            (6, 6, 1),
            0,
            0,
        ),
        ({"type": "upsampling2d", "size": [2, 3]}, [(4, 4, 2)], (8, 12, 2), 0, 0),
        ({"type": "batch_norm"}, [(8, 8, 16)], (8, 8, 16), 32, 32),
        ({"type": "batch_norm", "scale": False}, [(10,)], (10,), 10, 20),
        ({"type": "layer_norm"}, [(8, 8, 16)], (8, 8, 16), 32, 0),
        ({"type": "group_norm", "groups": 2}, [(4, 4, 4)], (4, 4, 4), 8, 0),
        ({"type": "activation", "activation": "relu"}, [(3, 3, 1)], (3, 3, 1), 0, 0),
        ({"type": "dropout", "rate": 0.5}, [(3,)], (3,), 0, 0),
        ({"type": "gaussian_noise", "stddev": 0.1}, [(3,)], (3,), 0, 0),
        ({"type": "dense", "units": 5}, [(4, 4, 3)], (4, 4, 5), 20, 0),
        ({"type": "dense", "units": 1024}, [(3072,)], (1024,), 3146752, 0),
        ({"type": "flatten"}, [(4, 4, 3)], (48,), 0, 0),
        ({"type": "reshape", "target_shape": [4, -1, 3]}, [(48,)], (4, 4, 3), 0, 0),
        ({"type": "zero_padding2d", "padding": [[1, 2], [0, 3]]}, [(4, 4, 1)], (7, 7, 1), 0, 0),
        ({"type": "zero_padding2d", "padding": [1, 2]}, [(4, 4, 1)], (6, 8, 1), 0, 0),
        ({"type": "cropping2d", "cropping": 2}, [(32, 32, 1)], (28, 28, 1), 0, 0),
        (
            # dilated depthwise kernels go through space-to-batch, which takes unequal strides
            {
                "type": "separable_conv2d",
                "filters": 1,
                "kernel_size": 1,
                "strides": [1, 2],
                "dilation_rate": 2,
                "use_bias": False,
            },
            [(5, 5, 2)],
            (5, 3, 1),
            4,
            0,
        ),
        ({"type": "add"}, [(4, 4, 3), (4, 4, 3)], (4, 4, 3), 0, 0),
        ({"type": "add"}, [(4, 4, 3), (4, 4, 1)], (4, 4, 3), 0, 0),
        ({"type": "concatenate"}, [(4, 4, 3), (4, 4, 5)], (4, 4, 8), 0, 0),
        ({"type": "concatenate", "axis": 1}, [(4, 4, 3), (2, 4, 3)], (6, 4, 3), 0, 0),
    ],
)
def test_shape_and_params(fields, inputs, shape, trainable, non_trainable):
    spec = layer(**fields)
    assert spec.output_shape(inputs) == shape
    params = spec.params(inputs)
    assert (params.trainable, params.non_trainable) == (trainable, non_trainable)


@pytest.mark.parametrize(
    ("fields", "inputs", "match"),
    [
        (
            {"type": "conv2d", "filters": 4, "kernel_size": 5, "padding": "valid"},
            [(3, 3, 1)],
            "does not fit",
        ),
        ({"type": "conv2d", "filters": 4, "kernel_size": 3}, [(48,)], "rank 3"),
        ({"type": "max_pool2d", "pool_size": 4, "padding": "valid"}, [(3, 3, 1)], "does not fit"),
        ({"type": "upsampling2d"}, [(10,)], "rank 3"),
        ({"type": "group_norm", "groups": 3}, [(4, 4, 4)], "cannot split 4 channels"),
        ({"type": "reshape", "target_shape": [5, 5, 1]}, [(4, 4, 1)], "cannot reshape"),
        ({"type": "reshape", "target_shape": [5, -1]}, [(4, 4, 1)], "not a multiple"),
        ({"type": "cropping2d", "cropping": 4}, [(8, 8, 1)], "removes the whole"),
        ({"type": "add"}, [(4, 4, 3), (4, 4, 2)], "same shape"),
        ({"type": "concatenate"}, [(4, 4, 3), (2, 2, 3)], "other axes equal"),
        ({"type": "concatenate"}, [(4, 4, 3), (48,)], "one rank"),
        ({"type": "concatenate", "axis": 0}, [(4, 4, 3), (4, 4, 3)], "axis 0"),
    ],
)
def test_shape_errors(fields, inputs, match):
    with pytest.raises(ShapeError, match=match):
        layer(**fields).output_shape(inputs)


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "conv2d", "filters": -4, "kernel_size": 3},
        {"type": "conv2d", "filters": 4, "kernel_size": 2.5},
        {"type": "conv2d", "filters": 4, "kernel_size": 3.0},
        {"type": "conv2d", "filters": 4, "kernel_size": [3, 3, 3]},
        {"type": "conv2d", "filters": True, "kernel_size": 3},
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
        {
            "type": "conv2d_transpose",
            "filters": 4,
            "kernel_size": 3,
            "strides": 2,
            "output_padding": 2,
        },
        {"type": "dropout", "rate": 1.0},
        {"type": "reshape", "target_shape": [-1, -1]},
        {"type": "reshape", "target_shape": [0, 4]},
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "causal"},
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "swish!"},
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "name": "has space"},
        {"type": "lambda", "function": "lambda x: x"},
    ],
)
def test_invalid_fields_are_rejected(fields):
    with pytest.raises(ValidationError):
        layer(**fields)


def test_every_layer_type_has_a_distinct_tag_and_keras_class():
    assert len(LAYER_BY_TYPE) == 28
    assert len({cls.keras_class for cls in LAYER_BY_TYPE.values()}) == 28


def test_defaults_follow_the_design():
    conv = layer(type="conv2d", filters=1, kernel_size=3)
    assert conv.padding == "same" and conv.strides == (1, 1) and conv.activation == "linear"
    assert layer(type="max_pool2d").padding == "same"
    assert layer(type="conv2d", filters=1, kernel_size=[3, 5]).kernel_size == (3, 5)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"type": "conv2d_transpose", "filters": 1, "kernel_size": 3, "dilation_rate": 2}, "dil"),
        ({"type": "separable_conv2d", "filters": 1, "kernel_size": 1, "strides": [1, 2]}, "str"),
        ({"type": "depthwise_conv2d", "kernel_size": 1, "strides": [2, 1]}, "str"),
        (
            {"type": "depthwise_conv2d", "kernel_size": 3, "strides": [2, 1], "dilation_rate": 2},
            None,
        ),
        ({"type": "separable_conv2d", "filters": 1, "kernel_size": 1, "strides": 2}, None),
    ],
)
def test_layers_that_only_some_kernels_run_say_so(fields, why):
    """W109's source: each layer type knows when its op depends on the machine's kernels."""
    reason = layer(**fields).backend_dependent
    assert (reason is None) if why is None else why in reason


@pytest.mark.parametrize(
    ("fields", "inputs", "shape", "params"),
    [
        ({"type": "prelu"}, [(4, 4, 3)], (4, 4, 3), 48),  # one slope per element
        ({"type": "prelu", "shared_axes": [1, 2]}, [(4, 4, 3)], (4, 4, 3), 3),
        ({"type": "leaky_relu", "negative_slope": 0.1}, [(4, 4, 3)], (4, 4, 3), 0),
        ({"type": "relu", "max_value": 6.0}, [(8,)], (8,), 0),
        ({"type": "elu", "alpha": 0.5}, [(8,)], (8,), 0),
        ({"type": "spatial_dropout2d", "rate": 0.2}, [(4, 4, 3)], (4, 4, 3), 0),
        ({"type": "global_average_pooling2d"}, [(4, 4, 3)], (3,), 0),
        ({"type": "global_average_pooling2d", "keepdims": True}, [(4, 4, 3)], (1, 1, 3), 0),
        ({"type": "multiply"}, [(4, 4, 3), (4, 4, 1)], (4, 4, 3), 0),
        (
            {"type": "dense", "units": 4, "kernel_regularizer": {"l1": 0.01}},
            [(8,)],
            (4,),
            36,
        ),
    ],
)
def test_porting_layers(fields, inputs, shape, params):
    spec = layer(**fields)
    assert spec.output_shape(inputs) == shape
    assert spec.params(inputs).total == params


def test_prelu_shared_axes_out_of_range():
    with pytest.raises(ShapeError, match="shared_axes"):
        layer(type="prelu", shared_axes=[3]).output_shape([(8, 2)])


def test_padding_is_case_insensitive_like_keras():
    assert layer(type="conv2d", filters=1, kernel_size=3, padding="VALID").padding == "valid"
