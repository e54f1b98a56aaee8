"""W109 backend-dependent-op: a layer whose kernel exists on some machines only.

What it does: reports layers that Keras builds with well-defined shapes but that only some
TensorFlow kernels run: a `conv2d_transpose` with `dilation_rate` above 1, and an
undilated `separable_conv2d` or `depthwise_conv2d` with unequal strides. Each layer type
says so itself (`backend_dependent`).
Why it matters: whether they run depends on the kernel TensorFlow picks. oneDNN builds
(common on x86-64 CPUs with AVX-512) run them; TensorFlow's default CPU kernels reject them
at run time (as with TF_ENABLE_ONEDNN_OPTS=0); GPU kernels differ again. A spec that trains
on one machine can fail on the next.
Example: `{type: conv2d_transpose, filters: 8, kernel_size: 3, dilation_rate: 2}`.
Use instead: `upsampling2d` followed by a dilated `conv2d`; one stride for both axes.
"""

from __future__ import annotations

from caegen.compile.graph import Graph
from caegen.core.diagnostics import Diagnostic

CODE = "W109"


def check(graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in graph.layers():
        why = getattr(node.layer, "backend_dependent", None)
        if why is None or node.shape is None:
            continue
        field = "dilation_rate" if "dilation" in why else "strides"
        out.append(
            Diagnostic(
                CODE,
                f"{node.path} (`{node.name}`): {why} runs only where TensorFlow has a kernel "
                "for it (oneDNN CPU builds, some GPUs); TensorFlow's default CPU kernel "
                "rejects it at run time",
                node.field_location(field),
                "for a model that runs everywhere use "
                + (
                    "dilation_rate: 1, or upsampling2d followed by a dilated conv2d"
                    if field == "dilation_rate"
                    else "one stride for both axes, e.g. strides: 2"
                ),
            )
        )
    return out
