"""W103 batch-norm-after-activation: batch norm placed after a non-linearity.

What it does: flags a `batch_norm` that reads a layer with a non-linear activation.
Why it is bad: batch norm is meant to normalize pre-activations; after a relu it sees a
half-rectified distribution and the following layer gets no benefit from centering.
It often still trains, which is why this is a warning.
Example: `{type: conv2d, filters: 64, kernel_size: 3, activation: relu}` then `{type: batch_norm}`.
Use instead: conv without activation -> batch_norm -> `{type: activation, activation: relu}`.
"""

from __future__ import annotations

from caegen.compile.graph import Graph, Node
from caegen.core.diagnostics import Diagnostic, Edit, Fix
from caegen.spec.textspan import flow_item_after, flow_item_line, rewrite_scalar, rows_of

CODE = "W103"


def check(graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    wiring = _Wiring(graph)  # once per graph: each finding's fix looks it up in O(1)
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
                fixes=_reorder_fix(graph, node, src, wiring),
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


class _Wiring:
    """Who reads each layer, and the highest generated name (`encoder.4`) that any layer
    names per section: what every fix of this rule asks about the whole graph."""

    def __init__(self, graph: Graph) -> None:
        self.consumers = graph.consumers()
        self.highest_named: dict[str, int] = {}
        for node in graph.layers():
            for name in (node.layer.input_names() if node.layer is not None else None) or []:
                section, _, index = name.rpartition(".")
                if index.isdigit():
                    best = self.highest_named.get(section, -1)
                    self.highest_named[section] = max(best, int(index))

    def names_would_shift(self, src: Node) -> bool:
        """Whether a layer names a generated name at or after `src` in its section:
        inserting or swapping layers there would renumber what it reads."""
        return self.highest_named.get(src.section, -1) >= src.index


def _reorder_fix(graph: Graph, bn: Node, src: Node, wiring: _Wiring) -> tuple[Fix, ...]:
    """Move the non-linearity after the batch norm (unsafe: it changes the model).

    An activation layer's line moves below the batch norm's; an activation written on a
    conv becomes `linear` and an activation layer follows the batch norm. Offered only
    where the two are consecutive one-line flow mappings wired by position, `src` feeds
    only the batch norm, and no layer names a generated name the move would shift.
    """
    source = graph.spec.source
    if source is None or src.layer is None or bn.layer is None or bn.layer.inputs is not None:
        return ()
    if (src.section, src.index + 1) != (bn.section, bn.index):
        return ()
    if wiring.consumers.get(src.name) != [bn.name] or wiring.names_would_shift(src):
        return ()
    text, positions = source.text, source.positions
    bn_at = positions.value_at.get((bn.section, bn.index))
    src_at = positions.value_at.get((src.section, src.index))
    if bn_at is None or src_at is None or flow_item_line(text, *bn_at) is None:
        return ()
    activation = src.layer.activation_name
    title = f"apply `{activation}` after the batch norm `{bn.name}`"
    if _is_activation_layer(src.layer):
        if flow_item_line(text, *src_at) is None:
            return ()
        row = rows_of(text)[src_at[0] - 1]
        moved = flow_item_after(text, *bn_at, row[src_at[1] - 1 :].rstrip("\r\n"))
        remove = Edit(src_at[0], 1, src_at[0] + 1, 1, "")
        return (Fix(title, (remove, moved), "unsafe"),) if moved else ()
    written_at = positions.value_at.get((src.section, src.index, "activation"))
    # None where the activation comes from `defaults`: no token on the layer to change
    linear = rewrite_scalar(text, *written_at, activation, "linear") if written_at else None
    added = flow_item_after(text, *bn_at, f"{{type: activation, activation: {activation}}}")
    return (Fix(title, (linear, added), "unsafe"),) if linear and added else ()
