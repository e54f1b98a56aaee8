"""Pure shape arithmetic with Keras 3 semantics (one spatial axis at a time).

Each function mirrors the Keras helper named in its docstring and is tested table-driven,
failing cases included. A returned size of 0 or less means the layer cannot be applied.
"""

from __future__ import annotations


def dilated(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def conv_length(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """`keras.src.ops.operation_utils.compute_conv_output_shape`, one axis."""
    if padding == "valid":
        return (size - dilated(kernel, dilation)) // stride + 1
    return (size - 1) // stride + 1  # same: ceil(size / stride)


def pool_length(size: int, pool: int, stride: int, padding: str) -> int:
    """`compute_pooling_output_shape`, one axis."""
    if padding == "valid":
        return (size - pool) // stride + 1
    return (size - 1) // stride + 1


def conv_transpose_length(
    size: int,
    kernel: int,
    stride: int,
    padding: str,
    output_padding: int | None = None,
    dilation: int = 1,
) -> int:
    """`keras.src.backend.common.backend_utils._get_output_shape_given_tf_padding`."""
    k = dilated(kernel, dilation)
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return (size - 1) * stride + k + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + k % 2 + output_padding


def rounds(size: int, stride: int, padding: str) -> bool:
    """Whether a `same` strided op on `size` rounds up (the size is not a multiple)."""
    return padding == "same" and stride > 1 and size % stride != 0
