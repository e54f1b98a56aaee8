"""ONNX graphs that OpenCV 4.x's dnn module runs, as exact as tf2onnx's own.

tf2onnx turns two common autoencoder layers into graphs OpenCV 4.x refuses:

- a nearest `UpSampling2D` (Keras repeats rows and columns) becomes Unsqueeze/Tile/Reshape
  ("Tile: repeats must be ..."). Traced instead as TensorFlow's nearest-neighbour resize
  without half-pixel centres, it becomes one ONNX `Resize` (nearest, asymmetric, floor):
  for an integer factor s, output pixel o reads input pixel floor(o / s), which is what the
  repetition does.
- a strided `same` `Conv2DTranspose` becomes a ConvTranspose with asymmetric pads
  (e.g. [0, 0, 1, 1]: "Unsupported asymmetric padding in deconvolution layer"). Its pads are
  made symmetric and a `Slice` removes the rest: the same numbers. (An `output_padding`
  becomes negative pads, which onnxruntime refuses too: it is written as ONNX's own
  `output_padding`.)

The batch axis, which tf2onnx names `unk__N`, is named `batch` on every input and output.
Export compares the result with Keras in onnxruntime as before, so a rewrite that changed a
number could not land.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = "batch"
INT64_MAX = np.iinfo(np.int64).max


def traceable(model: Any) -> Any:
    """The model with each nearest `UpSampling2D` traced as a nearest-neighbour resize.

    Every other layer is the model's own object (weights shared, nothing copied).
    """
    import keras

    resize_class = _nearest_resize_class()

    def substitute(layer: Any) -> Any:
        if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest":
            return resize_class(tuple(layer.size), name=layer.name)
        return layer

    if not any(substitute(layer) is not layer for layer in model.layers):
        return model
    return keras.models.clone_model(model, clone_function=substitute)


def _nearest_resize_class() -> type:
    import keras
    import tensorflow as tf

    class NearestResize(keras.layers.Layer):
        """UpSampling2D(size, interpolation="nearest") as TensorFlow's resize op."""

        def __init__(self, size: tuple[int, int], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.size = size

        def call(self, x: Any) -> Any:
            height, width = x.shape[1] * self.size[0], x.shape[2] * self.size[1]
            return tf.raw_ops.ResizeNearestNeighbor(
                images=x, size=[height, width], align_corners=False, half_pixel_centers=False
            )

        def compute_output_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
            return (shape[0], shape[1] * self.size[0], shape[2] * self.size[1], shape[3])

    return NearestResize


def symmetric_conv_transpose(proto: Any) -> int:
    """Give every ConvTranspose with asymmetric or negative pads symmetric ones, with an
    `output_padding` and a Slice after it where needed.

    ONNX's ConvTranspose output is the full transposed convolution plus `output_padding`,
    with `pads[i]` removed at the start and `pads[i + rank]` at the end of spatial axis i.
    A negative end pad (tf2onnx's way of writing Keras's `output_padding`, which onnxruntime
    refuses) is that many rows of output padding; the larger of two pads is the smaller one
    plus a Slice. The tensor is the same. Returns the number of nodes rewritten.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    rewritten = 0
    for position in range(len(graph.node) - 1, -1, -1):
        node = graph.node[position]
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plan = _pads_plan(node.op_type, attributes)
        if plan is None:
            continue
        kept, output_padding, axes, starts, ends = plan
        _set_attribute(node, "pads", kept + kept)
        if any(output_padding):
            _set_attribute(node, "output_padding", output_padding)
        if axes:
            name = f"{node.name or node.output[0]}__symmetric"
            constants = {
                f"{name}_starts": starts,
                f"{name}_ends": ends,
                f"{name}_axes": [2 + i for i in axes],  # NCHW: the spatial axes follow N, C
            }
            for key, values in constants.items():
                graph.initializer.append(numpy_helper.from_array(np.array(values, np.int64), key))
            output, full = node.output[0], f"{name}_full"
            node.output[0] = full
            crop = helper.make_node("Slice", [full, *constants], [output], name=f"{name}_slice")
            graph.node.insert(position + 1, crop)
        rewritten += 1
    if rewritten:
        onnx.checker.check_model(proto)
    return rewritten


def _pads_plan(op_type: str, attributes: dict[str, Any]) -> tuple[list[int], ...] | None:
    """(symmetric pads per axis, output_padding, sliced axes, their starts and ends), or
    None when the node is not a ConvTranspose that needs it."""
    pads = list(attributes.get("pads", []))
    rank = len(pads) // 2
    if op_type != "ConvTranspose" or not rank or "output_shape" in attributes:
        return None
    if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    begin, end = pads[:rank], pads[rank:]
    if begin == end and min(pads) >= 0:
        return None
    if min(begin) < 0:  # rows added before the output: nothing in ONNX says that
        return None
    output_padding = list(attributes.get("output_padding", [0] * rank))
    for i in range(rank):
        if end[i] < 0:
            output_padding[i] += -end[i]
            end[i] = 0
    kept = [min(b, e) for b, e in zip(begin, end, strict=True)]
    axes = [i for i in range(rank) if begin[i] != end[i]]
    starts = [begin[i] - kept[i] for i in axes]
    ends = [-(end[i] - kept[i]) if end[i] > kept[i] else INT64_MAX for i in axes]
    return kept, output_padding, axes, starts, ends


def _set_attribute(node: Any, name: str, values: list[int]) -> None:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            attribute.CopyFrom(helper.make_attribute(name, values))
            return
    node.attribute.append(helper.make_attribute(name, values))


def name_batch_axis(proto: Any, name: str = BATCH) -> None:
    """Call the first (dynamic) axis of every graph input and output `name`, and rename
    tf2onnx's generated names for it wherever else they appear."""
    graph = proto.graph
    ends = [*graph.input, *graph.output]
    generated = set()
    for value in ends:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            generated.add(dims[0].dim_param)
            dims[0].dim_param = name
    for value in graph.value_info:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in generated:
                dim.dim_param = name
