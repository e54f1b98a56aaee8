"""W103 batch-norm-after-activation: batch norm placed after a non-linearity.

What it does: flags a `batch_norm` that reads a layer with a non-linear activation.
Why it is bad: batch norm is meant to normalize pre-activations; after a relu it sees a
half-rectified distribution and the following layer gets no benefit from centering.
It often still trains, which is why this is a warning.
Example: `{type: conv2d, filters: 64, kernel_size: 3, activation: relu}` then `{type: batch_norm}`.
Use instead: conv without activation -> batch_norm -> `{type: activation, activation: relu}`.
"""

from __future__ import annotations

from caegen.diagnostics import Diagnostic
from caegen.graph import Graph

CODE = "W103"


def check(graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in graph.live_layers():
        if node.type != "batch_norm" or not node.inputs:
            continue
        src = graph.node(node.inputs[0])
        if src.layer is None or src.layer.activation_name == "linear":
            continue
        out.append(
            Diagnostic(
                CODE,
                f"{node.path} (`{node.name}`) normalizes the output of `{src.name}`, which has "
                f"already applied `{src.layer.activation_name}`",
                node.location,
                _hint(src.name, _is_activation_layer(src.layer), src.layer.activation_name),
            )
        )
    return out


def _is_activation_layer(layer: object) -> bool:
    return getattr(layer, "type", None) == "activation" or getattr(
        layer, "is_activation_layer", False
    )


def _hint(name: str, activation_layer: bool, activation: str) -> str:
    if activation_layer:  # the non-linearity is its own layer: move it, keep it
        return (
            f"move `{name}` after the batch norm: the layer before it -> batch_norm -> "
            f"{{type: activation, activation: {activation}}}"
        )
    return (
        f"drop the activation from `{name}` and add {{type: activation, "
        f"activation: {activation}}} after the batch norm"
    )
