"""Table-driven tests of the pure shape rules (Keras 3 semantics), failing cases included."""

from __future__ import annotations

import pytest

from caegen.spec.layers.shape_rules import conv_length, conv_transpose_length, pool_length, rounds


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "expected"),
    [
        (32, 3, 1, "same", 1, 32),
        (32, 3, 2, "same", 1, 16),
        (7, 3, 2, "same", 1, 4),
        (28, 3, 2, "same", 1, 14),
        (28, 3, 1, "valid", 1, 26),
        (7, 7, 1, "valid", 1, 1),
        (7, 3, 2, "valid", 1, 3),
        (9, 3, 1, "valid", 2, 5),
        (5, 3, 1, "valid", 3, -1),  # dilated kernel 7 does not fit: rejected
        (2, 3, 1, "valid", 1, 0),  # empty output: rejected
    ],
)
def test_conv_length(size, kernel, stride, padding, dilation, expected):
    assert conv_length(size, kernel, stride, padding, dilation) == expected


@pytest.mark.parametrize(
    ("size", "pool", "stride", "padding", "expected"),
    [
        (28, 2, 2, "same", 14),
        (7, 2, 2, "same", 4),  # the classic 28 -> 14 -> 7 -> 4
        (7, 2, 2, "valid", 3),
        (8, 3, 1, "valid", 6),
        (8, 3, 2, "same", 4),
        (1, 2, 2, "valid", 0),  # rejected
    ],
)
def test_pool_length(size, pool, stride, padding, expected):
    assert pool_length(size, pool, stride, padding) == expected


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "output_padding", "dilation", "expected"),
    [
        (7, 3, 2, "same", None, 1, 14),
        (7, 3, 2, "valid", None, 1, 15),
        (1, 7, 1, "valid", None, 1, 7),  # MNIST 2-D latent decoder: 1x1 -> 7x7
        (14, 7, 2, "same", None, 1, 28),
        (7, 3, 2, "same", 1, 1, 14),
        (7, 3, 2, "same", 0, 1, 13),
        (4, 2, 2, "same", 0, 1, 6),  # even kernel: k % 2 == 0
        (1, 2, 2, "same", 0, 1, 0),  # empty output: rejected
        (4, 3, 1, "valid", None, 2, 8),
        (4, 2, 3, "valid", None, 1, 12),  # max(k, s) - k extra when stride > kernel
    ],
)
def test_conv_transpose_length(size, kernel, stride, padding, output_padding, dilation, expected):
    assert (
        conv_transpose_length(size, kernel, stride, padding, output_padding, dilation) == expected
    )


@pytest.mark.parametrize(
    ("size", "stride", "padding", "expected"),
    [(7, 2, "same", True), (8, 2, "same", False), (7, 2, "valid", False), (7, 1, "same", False)],
)
def test_rounds(size, stride, padding, expected):
    assert rounds(size, stride, padding) is expected
