"""W109 backend-dependent-op: a layer whose kernel exists on some machines only.

What it does: reports a `conv2d_transpose` with `dilation_rate` above 1.
Why it matters: Keras builds it and the shapes are well defined, but whether it runs
depends on the kernel TensorFlow picks: the default CPU kernel rejects dilated transposed
convolutions at run time, while oneDNN builds (common on x86-64 with AVX-512) and some
GPU kernels run them. A spec that trains on one machine can fail on the next.
Example: `{type: conv2d_transpose, filters: 8, kernel_size: 3, dilation_rate: 2}`.
Use instead: `upsampling2d` followed by a dilated `conv2d`, which every backend runs.
"""

from __future__ import annotations

from caegen.diagnostics import Diagnostic
from caegen.graph import Graph

CODE = "W109"


def check(graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in graph.layers():
        if node.type != "conv2d_transpose" or node.shape is None:
            continue
        dilation = list(node.layer.dilation_rate)  # type: ignore[union-attr]
        if max(dilation) == 1:
            continue
        out.append(
            Diagnostic(
                CODE,
                f"{node.path} (`{node.name}`): conv2d_transpose with dilation_rate {dilation} "
                "runs only where TensorFlow has a kernel for it (oneDNN CPU builds, some GPUs); "
                "TensorFlow's default CPU kernel rejects it at run time",
                node.field_location("dilation_rate"),
                "for a model that runs everywhere use dilation_rate: 1, or upsampling2d "
                "followed by a dilated conv2d",
            )
        )
    return out
