"""W101 output-range: the output activation cannot produce the data range.

What it does: compares the reconstruction's activation with `data.range`.
Why it is bad: with `range: symmetric` ([-1, 1]) a sigmoid or relu output can never
produce the negative half of the data, so the loss has a floor it cannot go below.
Example: `range: symmetric` with `{type: conv2d, filters: 1, activation: sigmoid}` last.
Use instead: `activation: tanh` for [-1, 1] data, or `range: unit` for [0, 1] data.
Fix (unsafe: it changes the model): the output layer's `activation` becomes `tanh`.
"""

from __future__ import annotations

from caegen.compile.graph import Graph, Node
from caegen.compile.lints._util import NON_NEGATIVE, output_activation
from caegen.core.diagnostics import Diagnostic, Fix
from caegen.spec.textspan import scalar_edit

CODE = "W101"


def check(graph: Graph) -> list[Diagnostic]:
    activation, node = output_activation(graph)
    if graph.spec.data.range == "symmetric" and activation in NON_NEGATIVE:
        return [
            Diagnostic(
                CODE,
                f"the output activation `{activation}` ({node.path}) is never negative, but "
                "data.range is symmetric ([-1, 1])",
                node.field_location("activation"),
                "use activation: tanh for [-1, 1] data, or set data.range: unit",
                fixes=_tanh_fix(graph, node, activation),
            )
        ]
    return []


def _tanh_fix(graph: Graph, node: Node, activation: str) -> tuple[Fix, ...]:
    source, layer = graph.spec.source, node.layer
    if source is None or layer is None or getattr(layer, "activation", None) != activation:
        return ()  # written on another layer (or a default): no single token to change
    pos = source.positions.lookup((node.section, node.index, "activation"))
    if pos is None or pos == source.positions.lookup((node.section, node.index)):
        return ()  # the activation is not written on the layer
    edit = scalar_edit(source.text, *pos, activation, "tanh")
    return (Fix(f"use `tanh` on `{node.name}`", (edit,), "unsafe"),) if edit else ()
