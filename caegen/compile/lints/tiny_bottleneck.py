"""I106 tiny-bottleneck: the latent feature map is 4x4 or smaller.

What it does: reports a convolutional latent code whose spatial size is at most 4x4.
Why it matters: at that size the decoder must regenerate almost all spatial detail from
the channels; reconstructions turn blurry unless the code has many channels. It is a
deliberate choice for low-dimensional codes (e.g. a 2-D latent for plotting).
Example: a 28x28 input pooled three times to 4x4.
Use instead: stop downsampling at 7x7 or 8x8, or add channels to the code.
"""

from __future__ import annotations

from caegen.compile.graph import Graph
from caegen.core.diagnostics import Diagnostic
from caegen.spec.layers import fmt_shape

CODE = "I106"


def check(graph: Graph) -> list[Diagnostic]:
    latent = graph.node(graph.latent)
    shape = latent.shape
    if shape is None or len(shape) != 3 or max(shape[0], shape[1]) > 4:
        return []
    return [
        Diagnostic(
            CODE,
            f"the latent feature map is {fmt_shape(shape)}: spatial detail must come back from "
            f"{shape[2]} channel(s)",
            latent.location,
            "downsample less or widen the code if reconstructions come out blurry",
        )
    ]
