"""I107 dense-in-conv-autoencoder: dense layers in a convolutional autoencoder.

What it does: reports the first dense layer on a flattened feature map in a spec that
also has convolutions.
Why it matters: a dense layer on a flattened feature map has H*W*C*units weights and
discards the spatial structure the convolutions keep; it usually dominates the parameter
count. That is sometimes the point (a dense bottleneck), hence info. A VAE's mean and
log-variance heads (dense layers read only by a sampling layer) are its parameterisation,
not a design choice, and are not counted.
Example: conv -> flatten -> dense 128 -> dense 1568 -> reshape 7x7x32 -> conv.
Use instead: a strided conv or pooling to shrink the code, or accept the cost knowingly.
"""

from __future__ import annotations

from caegen.compile.graph import Graph
from caegen.compile.lints._util import is_conv_type
from caegen.core.diagnostics import Diagnostic

CODE = "I107"


def check(graph: Graph) -> list[Diagnostic]:
    live = graph.live_layers()
    if not any(is_conv_type(n.type) for n in live):
        return []
    consumers = graph.consumers()
    dense = [
        n
        for n in live
        if n.type == "dense"
        and n.shape is not None
        and len(n.shape) == 1
        and not _is_vae_head(graph, consumers.get(n.name, []))
    ]
    if not dense:
        return []
    total = sum(n.params.total for n in dense if n.params)
    first = dense[0]
    return [
        Diagnostic(
            CODE,
            f"{len(dense)} dense layer(s) in a convolutional autoencoder, starting at "
            f"{first.path} (`{first.name}`): {total:,} params",
            first.location,
            "a strided conv2d or a pooling layer shrinks the code with far fewer weights",
        )
    ]


def _is_vae_head(graph: Graph, consumers: list[str]) -> bool:
    return bool(consumers) and all(graph.node(c).type == "sampling" for c in consumers)
