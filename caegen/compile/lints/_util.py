"""Helpers shared by the lint rules."""

from __future__ import annotations

from caegen.compile.graph import Graph, Node

# Layers whose output values are their input's values, rearranged or passed through.
_VALUE_PRESERVING = {
    "cropping2d",
    "zero_padding2d",
    "reshape",
    "flatten",
    "upsampling2d",
    "max_pool2d",
    "dropout",
    "spatial_dropout2d",
    "gaussian_noise",
}
SQUASHING_TO_UNIT = {"sigmoid", "hard_sigmoid"}
NON_NEGATIVE = {"sigmoid", "hard_sigmoid", "relu", "relu6", "softplus", "exponential"}


def output_activation(graph: Graph) -> tuple[str, Node]:
    """The activation that produces the reconstruction's values, and the layer that has it."""
    node = graph.node(graph.output)
    while node.layer is not None and node.type in _VALUE_PRESERVING and node.inputs:
        node = graph.node(node.inputs[0])
    return (node.layer.activation_name if node.layer is not None else "linear"), node


def is_conv_type(type_: str) -> bool:
    return "conv2d" in type_
