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
        if not hasattr(src.layer, "activation"):
            continue
        out.append(
            Diagnostic(
                CODE,
                f"{node.path} (`{node.name}`) normalizes the output of `{src.name}`, which has "
                f"already applied `{src.layer.activation_name}`",
                node.location,
                _hint(src.name, src.type, src.layer.activation_name),
            )
        )
    return out


def _hint(name: str, type_: str, activation: str) -> str:
    if type_ == "activation":  # the non-linearity is its own layer: move it, keep it
        return (
            f"move `{name}` after the batch norm: the layer before it -> batch_norm -> "
            f"{{type: activation, activation: {activation}}}"
        )
    return (
        f"drop the activation from `{name}` and add {{type: activation, "
        f"activation: {activation}}} after the batch norm"
    )
