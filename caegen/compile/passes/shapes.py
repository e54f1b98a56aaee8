"""Shape inference, parameter counts, MACs and receptive fields, node by node (E030, E032)."""

from __future__ import annotations

from caegen.compile.graph import Graph, Node
from caegen.core.diagnostics import Diagnostic
from caegen.core.limits import MAX_INT
from caegen.spec.layers import LayerBase, Shape, ShapeError, fmt_shape
from caegen.spec.layers.shape_rules import dilated


def infer_shapes(graph: Graph) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    graph.node("input").shape = graph.input_shape
    graph.node("input").receptive_field = (1, 1)
    graph.node("input").meta["jump"] = (1.0, 1.0)
    for node in graph.layers():
        in_shapes = [graph.node(src).shape for src in node.inputs]
        if node.broken or any(s is None for s in in_shapes) or not in_shapes:
            continue
        layer = node.layer
        assert layer is not None
        shapes = [s for s in in_shapes if s is not None]
        try:
            node.shape = layer.output_shape(shapes)
        except ShapeError as exc:
            received = ", ".join(fmt_shape(s) for s in shapes)
            diagnostics.append(
                Diagnostic(
                    exc.code,
                    f"{node.path} (`{node.name}`, {node.type}): {exc.message}"
                    + ("" if received in exc.message else f" (input {received})"),
                    node.field_location(exc.field),
                    exc.hint,
                )
            )
            continue
        if any(d > MAX_INT for d in node.shape):
            diagnostics.append(_too_large(node, node.shape))
            node.shape = None
            continue
        node.params = layer.params(shapes)
        node.macs = layer.macs(shapes, node.shape)
        _receptive_field(graph, node)
    return diagnostics


def _too_large(node: Node, shape: Shape) -> Diagnostic:
    """Sizes stay within int32, as TensorFlow's do; later passes then never meet a number
    too large for a float or for printing."""
    return Diagnostic(
        "E030",
        f"{node.path} (`{node.name}`, {node.type}): its output {fmt_shape(shape)} has an axis "
        f"larger than {MAX_INT:,}, the largest size TensorFlow takes",
        node.location,
        "use smaller sizes, strides or upsampling factors",
    )


def output_shape_with(graph: Graph, replaced: dict[str, LayerBase]) -> Shape | None:
    """The reconstruction's shape if some layers were replaced (a what-if for fixes), or
    None when a shape rule refuses it. The graph itself is left as it is."""
    shapes: dict[str, Shape] = {"input": graph.input_shape}
    for node in graph.layers():
        layer = replaced.get(node.name, node.layer)
        ins = [shapes.get(src) for src in node.inputs]
        if layer is None or not ins or any(s is None for s in ins):
            return None
        try:
            shapes[node.name] = layer.output_shape([s for s in ins if s is not None])
        except ShapeError:
            return None
    return shapes.get(graph.output)


RF_CAP = float(2**53)
"""Receptive fields and jumps saturate here (floats hold integers exactly up to it): a very
deep stack of strided layers would otherwise overflow to infinity."""


def _capped(values: tuple[float, ...]) -> tuple[float, float]:
    return (min(float(values[0]), RF_CAP), min(float(values[1]), RF_CAP))


def _receptive_field(graph: Graph, node: Node) -> None:
    """Size (rows, cols) of the input window that one output unit sees, and the jump.

    Sizes and jumps are floats capped at `RF_CAP`; a spec's numbers are at most `MAX_INT`,
    so no product here leaves the float range before it is capped."""
    sources = [graph.node(s) for s in node.inputs]
    if any(s.receptive_field is None for s in sources):
        return
    h, w = graph.input_shape[:2]
    rf = tuple(max(s.receptive_field[i] for s in sources) for i in (0, 1))  # type: ignore[index]
    jump = tuple(min(s.meta["jump"][i] for s in sources) for i in (0, 1))
    layer = node.layer
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if node.shape is None or len(node.shape) != 3 or layer is None:
        rf, jump = (h, w), (float(h), float(w))  # flat or reshaped: every unit sees all
    elif node.type == "upsampling2d":
        jump = tuple(j / s for j, s in zip(jump, layer.size, strict=False))  # type: ignore[attr-defined]
    elif node.type == "conv2d_transpose":
        strides = layer.strides  # type: ignore[attr-defined]
        dilation = layer.dilation_rate  # type: ignore[attr-defined]
        jump = tuple(j / s for j, s in zip(jump, strides, strict=False))
        rf = tuple(
            r + (dilated(k, d) - 1) * j
            for r, k, d, j in zip(rf, kernel, dilation, jump, strict=False)
        )
    elif kernel is not None:
        dilation = getattr(layer, "dilation_rate", (1, 1))
        strides = layer.window_strides or (1, 1)
        rf = tuple(
            r + (dilated(k, d) - 1) * j
            for r, k, d, j in zip(rf, kernel, dilation, jump, strict=False)
        )
        jump = tuple(j * s for j, s in zip(jump, strides, strict=False))
    # the true size: it may exceed the input, whose border the window then covers as padding
    rf, jump = _capped(rf), _capped(jump)
    node.receptive_field = (round(rf[0]), round(rf[1]))
    node.meta["jump"] = jump
