"""The reconstruction check (E031): the decoder's output shape must equal the input shape.

When it does not, the message traces the spatial size along the path from the input to the
reconstruction and names the layer where a `same` stride rounded an odd size up.
"""

from __future__ import annotations

from caegen.compile.graph import Graph, Node
from caegen.compile.passes.shapes import output_shape_with
from caegen.core.diagnostics import Diagnostic, Edit, Fix
from caegen.spec.layers import fmt_shape
from caegen.spec.layers.shape_rules import rounds
from caegen.spec.textspan import flow_item_after, flow_mapping_insert, rewrite_scalar
from caegen.spec.yamlpos import Positions


def check_reconstruction(graph: Graph) -> list[Diagnostic]:
    out = graph.node(graph.output)
    want = graph.input_shape
    if out.shape is None or out.shape == want:
        return []
    path = _main_path(graph)
    rounding = [(n, src) for n, src in path if _rounded(n, src)]
    heights = [n.shape[0] for n, _ in path if n.shape and len(n.shape) == 3]
    trail = " -> ".join(str(h) for i, h in enumerate(heights) if i == 0 or h != heights[i - 1])
    message = f"the decoder outputs {fmt_shape(out.shape)} but the input is {fmt_shape(want)}"
    if trail:
        message += f"; height along the path: {trail}"
    where = out
    if rounding:
        node, src = rounding[0]
        assert src.shape is not None and node.shape is not None
        message += (
            f"; {node.path} (`{node.name}`, {node.type}, padding same) rounded "
            f"{fmt_shape(src.shape[:2])} / {_strides_text(node)} up to {fmt_shape(node.shape[:2])}"
        )
        where = node
    hint = _hint(graph, out, rounding)
    fixes = _padding_fix(graph, [n for n, _ in rounding]) + _resize_fix(graph, out)
    return [Diagnostic("E031", message, where.location, hint, fixes=fixes)]


PADDING_CANDIDATES = 24
"""Layers tried (each a shape pass over the graph), so a huge spec stays fast to check."""


def _padding_fix(graph: Graph, rounding: list[Node]) -> tuple[Fix, ...]:
    """Flip one layer's padding (same <-> valid) where that alone makes the decoder give
    back the input's shape: the layer that rounded first, then the decoder's layers from
    the output back, then the encoder's (e.g. a 3x3 `valid` conv taking 16 to 14 before
    the last upsampling, as in the Keras blog's MNIST autoencoder). Unsafe: it changes
    the model. Found by re-running the shape rules, so it is never a guess."""
    source = graph.spec.source
    if source is None:
        return ()
    layers = graph.layers()
    decoder = [n for n in reversed(layers) if n.section == "decoder"]
    encoder = [n for n in reversed(layers) if n.section == "encoder"]
    seen: set[str] = set()
    for node in [*rounding, *decoder, *encoder]:
        padding = getattr(node.layer, "padding", None)
        if node.name in seen or node.layer is None or padding not in ("same", "valid"):
            continue
        seen.add(node.name)
        if len(seen) > PADDING_CANDIDATES:
            break
        flipped = "valid" if padding == "same" else "same"
        changed = node.layer.model_copy(update={"padding": flipped})
        if output_shape_with(graph, {node.name: changed}) != graph.input_shape:
            continue
        edit = _padding_edit(source.text, source.positions, node, padding, flipped)
        if edit is not None:
            return (Fix(f"use padding: {flipped} on `{node.name}`", (edit,), "unsafe"),)
    return ()


def _padding_edit(text: str, positions: Positions, node: Node, old: str, new: str) -> Edit | None:
    """Rewrite the layer's `padding` where it is written, or add it to a flow mapping."""
    key = (node.section, node.index, "padding")
    if key in positions.value_at:
        return rewrite_scalar(text, *positions.value_at[key], old, new)
    start = positions.value_at.get((node.section, node.index))
    return flow_mapping_insert(text, *start, f"padding: {new}") if start else None


def _resize_fix(graph: Graph, out: Node) -> tuple[Fix, ...]:
    """Crop or pad at the end of the decoder (unsafe: it changes the model)."""
    want, got = graph.input_shape, out.shape
    if got is None or len(got) != 3 or got[2] != want[2]:
        return ()
    dh, dw = got[0] - want[0], got[1] - want[1]
    if dh >= 0 and dw >= 0 and (dh or dw):
        borders = [[dh // 2, dh - dh // 2], [dw // 2, dw - dw // 2]]
        layer = f"{{type: cropping2d, cropping: {borders}}}"
    elif dh <= 0 and dw <= 0 and (dh or dw):
        borders = [[-dh // 2, -dh - (-dh // 2)], [-dw // 2, -dw - (-dw // 2)]]
        layer = f"{{type: zero_padding2d, padding: {borders}}}"
    else:
        return ()
    edit = append_flow_layer(graph, layer)
    return (Fix(f"end the decoder with {layer}", (edit,), "unsafe"),) if edit else ()


def append_flow_layer(graph: Graph, layer: str) -> Edit | None:
    """A new last decoder layer, written like the current last one (a one-line flow
    mapping, same indentation); None for other layouts."""
    source = graph.spec.source
    last = len(graph.spec.decoder) - 1
    if (
        source is None
        or graph.output != [n for n in graph.layers() if n.section == "decoder"][-1].name
    ):
        return None
    pos = source.positions.value_at.get(("decoder", last))
    return flow_item_after(source.text, *pos, layer) if pos else None


def _main_path(graph: Graph) -> list[tuple[Node, Node]]:
    """(node, its first input) pairs from the input to the output, following first inputs."""
    pairs: list[tuple[Node, Node]] = []
    cur = graph.node(graph.output)
    while cur.inputs:
        src = graph.node(cur.inputs[0])
        pairs.append((cur, src))
        cur = src
    return [(graph.node("input"), graph.node("input")), *reversed(pairs)]


def _strides_text(node: Node) -> str:
    strides = node.layer.window_strides if node.layer else None
    if not strides:
        return "1"
    return str(strides[0]) if strides[0] == strides[1] else fmt_shape(tuple(strides))


def _rounded(node: Node, src: Node) -> bool:
    strides = node.layer.window_strides if node.layer else None
    padding = getattr(node.layer, "padding", None)
    if node.type == "conv2d_transpose" or strides is None:
        return False
    if src.shape is None or len(src.shape) != 3:
        return False
    return any(rounds(src.shape[i], strides[i], padding) for i in (0, 1))


def _hint(graph: Graph, out: Node, rounding: list[tuple[Node, Node]]) -> str:
    want = graph.input_shape
    got = out.shape
    assert got is not None
    tips: list[str] = []
    if len(got) != 3:
        return (
            f"end the decoder with {{type: reshape, target_shape: {list(want)}}} after a "
            f"layer of {want[0] * want[1] * want[2]} units"
        )
    if rounding:
        factor = 1
        for n, _src in _main_path(graph):
            s = n.layer.window_strides if n.layer else None
            if n.section == "encoder" and s is not None and n.type != "conv2d_transpose":
                factor *= s[0]
        size = -(-want[0] // factor) * factor
        node = rounding[0][0]
        tips.append(
            f"use an input size divisible by {factor} (e.g. {size}x{size}, padding the data)"
        )
        tips.append(f"use padding: valid on `{node.name}` and adjust the decoder")
    dh, dw = got[0] - want[0], got[1] - want[1]
    if dh > 0 and dw > 0:
        crop = [[dh // 2, dh - dh // 2], [dw // 2, dw - dw // 2]]
        tips.append(f"crop at the end of the decoder: {{type: cropping2d, cropping: {crop}}}")
    elif dh < 0 and dw < 0:
        pad = [[-dh // 2, -dh - (-dh // 2)], [-dw // 2, -dw - (-dw // 2)]]
        tips.append(f"pad at the end of the decoder: {{type: zero_padding2d, padding: {pad}}}")
    if got[2] != want[2]:
        tips.append(f"give the last decoder layer {want[2]} filters (the input's channels)")
    return "; or ".join(tips) if tips else "make the decoder undo each encoder resampling"
