"""W111 dense-on-feature-map: a dense layer on an H x W x C map that was likely meant to
see the whole map.

What it does: reports a `dense` layer whose input is a feature map (rank 3) when its
output is later flattened or reshaped, or when the encoder has no convolution at all (a
dense-only encoder on an image). Keras applies `Dense` to the last axis only: on a
(7, 7, 32) map, `units: 128` gives (7, 7, 128) with 32*128+128 weights, a 1x1 convolution.
Why it is bad: a "dense bottleneck" written this way never mixes pixels: the code has
H*W times more values than intended and the model is far weaker than the one meant.
Quiet for deliberate per-pixel use: a dense layer on a map whose result stays a map that
nothing flattens or reshapes (a 1x1 projection), in a spec with convolutions.
Example: conv -> dense 128 -> dense 1568 -> reshape [7, 7, 32].
Use instead: `{type: flatten}` before the dense layer; or `conv2d` with `kernel_size: 1`
when a per-pixel projection is meant.
"""

from __future__ import annotations

from caegen.compile.graph import Graph
from caegen.compile.lints._util import is_conv_type
from caegen.core.diagnostics import Diagnostic
from caegen.spec.layers import fmt_shape

CODE = "W111"


def _downstream_types(graph: Graph, consumers: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(consumers.get(start, []))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(consumers.get(name, []))
    return {graph.node(n).type for n in seen if graph.node(n).live}


def check(graph: Graph) -> list[Diagnostic]:
    live = graph.live_layers()
    encoder_has_conv = any(is_conv_type(n.type) for n in live if n.section == "encoder")
    out: list[Diagnostic] = []
    consumers = graph.consumers()
    for node in live:
        if node.type != "dense" or not node.inputs:
            continue
        in_shape = graph.node(node.inputs[0]).shape
        if in_shape is None or len(in_shape) != 3:
            continue
        later = _downstream_types(graph, consumers, node.name)
        flattened = later & {"flatten", "reshape"}
        if not flattened and encoder_has_conv:
            continue  # a per-pixel projection, as a 1x1 conv would be
        why = (
            f"its output is {'flattened' if 'flatten' in flattened else 'reshaped'} later"
            if flattened
            else "the encoder has no convolution"
        )
        units = node.layer.units  # type: ignore[union-attr]
        out.append(
            Diagnostic(
                CODE,
                f"{node.path} (`{node.name}`) applies dense to each pixel of the "
                f"{fmt_shape(in_shape)} map (Keras acts on the last axis only: out "
                f"{fmt_shape(node.shape)}), yet {why}",
                node.location,
                f"add {{type: flatten}} before it to connect all {in_shape[0] * in_shape[1]:,} "
                f"pixels to its {units} units; for a per-pixel projection use conv2d with "
                "kernel_size: 1",
            )
        )
    return out
