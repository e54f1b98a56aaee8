"""Which layers `caegen inspect` draws, and how each one's weights become images.

Static (the checked graph only, no TensorFlow): a `--layers` name the model does not have,
or a dense layer whose weights have no image shape, is refused before a model is loaded.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from caegen.compile.graph import INPUT, Graph, Node
from caegen.core.diagnostics import CaegenError, error
from caegen.spec.layers import Shape, fmt_shape

CONVOLUTIONS = ("conv2d", "conv2d_transpose", "separable_conv2d", "depthwise_conv2d")
ACTIVATION_LAYERS = ("activation", "leaky_relu", "relu", "elu", "prelu")
KEEP_CHANNELS = ("gaussian_noise", "dropout", "spatial_dropout2d", "zero_padding2d", "cropping2d")
"""Layers that leave an image's channels as they are at inference: a convolution behind them
still reads (or writes) the image's colours."""
KEEP_POSITIONS = ("dropout", "gaussian_noise", "batch_norm", "layer_norm", *ACTIVATION_LAYERS)
"""Layers that keep every value of a vector in its place (between a flatten and a dense layer,
or a dense layer and a reshape)."""

# How a layer's kernel is laid out as tiles (caegen.inspect.filters draws each):
IMAGE_IN = "image_in"  # one tile per filter, over the image's 1 or 3 channels
IMAGE_OUT = "image_out"  # one tile per input channel, over the reconstruction's 1 or 3 channels
CHANNELS = "channels"  # one row per output channel, one column per input channel
DEPTHWISE = "depthwise"  # one row per input channel, one column per depth multiplier


@dataclass(frozen=True)
class WeightImages:
    """How a layer's weights are drawn: the tile layout, and for a dense layer how its weight
    matrix becomes a kernel (`pixel`: it acts on each pixel's channels, a 1x1 kernel;
    `flattened`: it reads `map_shape` flattened; `reshaped`: a reshape makes `map_shape` of
    its output)."""

    layout: str
    dense: str | None = None
    map_shape: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class Target:
    """A layer to draw: its shapes, the non-linearity around which its maps are shown, and
    how its weights become images (None: it has no kernel)."""

    name: str
    type: str
    in_shapes: tuple[Shape, ...]
    shape: Shape
    activation: str | None
    """The non-linearity drawn around: a fused `activation:` or an activation layer's own."""
    fused: bool
    """The activation is part of a weighted layer: its pre-activation is the linear output."""
    weights: WeightImages | None

    @property
    def merges(self) -> bool:
        return len(self.in_shapes) != 1

    def describe(self) -> str:
        ins = ", ".join(fmt_shape(s) for s in self.in_shapes)
        return f"{self.name} ({self.type}, {ins} -> {fmt_shape(self.shape)})"


def select(graph: Graph, names: list[str] | None) -> list[Target]:
    """The layers named (in the order given); by default every live convolution in spec
    order, or in a model without one, every dense layer whose weights have an image shape."""
    if names is not None:
        if not names:
            raise error(
                "E090",
                "--layers names no layer",
                "name layers separated by commas, e.g. --layers encoder.0,decoder.2",
            )
        return [target(graph, _resolve(graph, name)) for name in dict.fromkeys(names)]
    convolutions = [n for n in graph.live_layers() if n.type in CONVOLUTIONS]
    if convolutions:
        return [target(graph, node) for node in convolutions]
    drawable = []
    for node in graph.live_layers():
        if node.type == "dense":
            try:
                drawable.append(target(graph, node))
            except CaegenError:  # E091: no image shape
                continue
    return drawable


def _resolve(graph: Graph, name: str) -> Node:
    node = graph.nodes.get(name)
    live = [n.name for n in graph.live_layers()]
    if node is None or node.layer is None:
        close = difflib.get_close_matches(name, live, n=1, cutoff=0.6)
        guess = f"did you mean `{close[0]}`? " if close else ""
        raise error(
            "E090",
            f"{graph.spec.name} has no layer `{name}`",
            f"{guess}its layers: {', '.join(live[:30])}",
        )
    if not node.live:
        raise error(
            "E090",
            f"`{name}` ({node.path}) is a dead branch: the model Keras builds has no such layer",
            "inspect a layer on the path to the reconstruction (`caegen check` lists them)",
        )
    return node


def target(graph: Graph, node: Node) -> Target:
    assert node.layer is not None and node.shape is not None
    in_shapes = tuple(graph.node(src).shape or () for src in node.inputs)
    fused_name = getattr(node.layer, "activation", None)
    if node.type in ACTIVATION_LAYERS:
        activation, fused = node.layer.activation_name, False
    elif isinstance(fused_name, str) and fused_name != "linear":
        activation, fused = fused_name, True
    else:
        activation, fused = None, False
    return Target(
        node.name, node.type, in_shapes, node.shape, activation, fused, _weights(graph, node)
    )


def _weights(graph: Graph, node: Node) -> WeightImages | None:
    if node.type == "depthwise_conv2d":
        return WeightImages(DEPTHWISE)
    if node.type in CONVOLUTIONS:
        in_channels, out_channels = graph.node(node.inputs[0]).shape[-1], node.shape[-1]  # type: ignore[index]
        return WeightImages(_layout(graph, node, in_channels, out_channels))
    if node.type == "dense":
        return _dense(graph, node)
    return None


def _layout(graph: Graph, node: Node, in_channels: int, out_channels: int) -> str:
    if in_channels in (1, 3) and reads_image(graph, node.name):
        return IMAGE_IN
    if out_channels in (1, 3) and writes_image(graph, node.name):
        return IMAGE_OUT
    return CHANNELS


def _dense(graph: Graph, node: Node) -> WeightImages:
    in_shape = graph.node(node.inputs[0]).shape or ()
    units = node.shape[-1]  # type: ignore[index]
    if len(in_shape) == 3:  # per pixel: a 1x1 convolution
        return WeightImages(_layout(graph, node, in_shape[-1], units), "pixel")
    flatten = _back_through(graph, node.inputs[0], KEEP_POSITIONS)
    flat_in = graph.node(flatten.inputs[0]).shape if flatten.type == "flatten" else None
    if flat_in is not None and len(flat_in) == 3:
        image_in = flat_in[-1] in (1, 3) and reads_image(graph, flatten.name)
        return WeightImages(IMAGE_IN if image_in else CHANNELS, "flattened", flat_in)  # type: ignore[arg-type]
    reshape = _forward_through(graph, node.name, KEEP_POSITIONS)
    if reshape is not None and reshape.type == "reshape" and len(reshape.shape or ()) == 3:
        shape: tuple[int, int, int] = reshape.shape  # type: ignore[assignment]
        image_out = shape[-1] in (1, 3) and writes_image(graph, reshape.name)
        return WeightImages(IMAGE_OUT if image_out else CHANNELS, "reshaped", shape)
    raise error(
        "E091",
        f"the weights of `{node.name}` (dense, {fmt_shape(in_shape)} -> {units}) have no image "
        "shape: it reads no flattened feature map and no reshape makes a map of its output",
        "leave it out of --layers; convolutions, and dense layers that read a `flatten` or "
        "feed a `reshape`, are drawn",
    )


def reads_image(graph: Graph, name: str) -> bool:
    """Whether the layer reads the model input, directly or through KEEP_CHANNELS layers."""
    node = graph.node(name)
    if len(node.inputs) != 1:
        return False
    return _back_through(graph, node.inputs[0], KEEP_CHANNELS).name == INPUT


def writes_image(graph: Graph, name: str) -> bool:
    """Whether the layer's output is the reconstruction (through KEEP_CHANNELS layers)."""
    consumers = graph.consumers()
    node = graph.node(name)
    while node.name != graph.output:
        readers = [r for r in consumers.get(node.name, []) if graph.node(r).live]
        if len(readers) != 1:
            return False
        node = graph.node(readers[0])
        if node.type not in KEEP_CHANNELS:
            return False
    return True


def _back_through(graph: Graph, name: str, through: tuple[str, ...]) -> Node:
    """The first node at or before `name` that is not a single-input `through` layer."""
    node = graph.node(name)
    while node.type in through and len(node.inputs) == 1:
        node = graph.node(node.inputs[0])
    return node


def _forward_through(graph: Graph, name: str, through: tuple[str, ...]) -> Node | None:
    """Following the single reader of `name` past `through` layers: the first other layer
    (None where the output branches or ends)."""
    consumers = graph.consumers()
    node = graph.node(name)
    while True:
        readers = [r for r in consumers.get(node.name, []) if graph.node(r).live]
        if len(readers) != 1:
            return None
        node = graph.node(readers[0])
        if node.type not in through:
            return node
