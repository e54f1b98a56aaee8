"""The reconstruction check (E031): the decoder's output shape must equal the input shape.

When it does not, the message traces the spatial size along the path from the input to the
reconstruction and names the layer where a `same` stride rounded an odd size up.
"""

from __future__ import annotations

from caegen.diagnostics import Diagnostic, Edit, Fix
from caegen.graph import Graph, Node
from caegen.layers import fmt_shape
from caegen.layers.shape_rules import rounds


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
            f"{fmt_shape(src.shape[:2])} up to {fmt_shape(node.shape[:2])}"
        )
        where = node
    hint = _hint(graph, out, rounding)
    return [Diagnostic("E031", message, where.location, hint, fixes=_resize_fix(graph, out))]


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
    lines = source.text.splitlines(keepends=True)
    if pos is None or not 0 < pos[0] <= len(lines):
        return None
    line, column = pos
    text = lines[line - 1]
    prefix, body = text[: column - 1], text[column - 1 :].split("#")[0].rstrip()
    if prefix.strip() != "-" or not body.startswith("{") or not body.endswith("}"):
        return None
    ending = "\r\n" if text.endswith("\r\n") else "\n"
    if text.endswith(("\n", "\r")):
        return Edit(line + 1, 1, line + 1, 1, f"{prefix}{layer}{ending}")
    end = len(text) + 1  # the file's last line, with no line ending
    return Edit(line, end, line, end, f"{ending}{prefix}{layer}")


def _main_path(graph: Graph) -> list[tuple[Node, Node]]:
    """(node, its first input) pairs from the input to the output, following first inputs."""
    pairs: list[tuple[Node, Node]] = []
    cur = graph.node(graph.output)
    while cur.inputs:
        src = graph.node(cur.inputs[0])
        pairs.append((cur, src))
        cur = src
    return [(graph.node("input"), graph.node("input")), *reversed(pairs)]


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
