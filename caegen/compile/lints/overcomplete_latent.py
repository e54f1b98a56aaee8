"""W104 overcomplete-latent: the latent code is not smaller than the input, and nothing
stops the autoencoder from learning the identity.

What it does: compares the latent size with the input size when no noise is used.
Why it is bad: an overcomplete code with no noise, dropout or regularization can copy
the input through, so reconstructions look perfect and the code learns nothing useful.
Example: a single conv of 32 filters on a 28x28x1 input (latent 28x28x32).
Use instead: a smaller code, `data.noise` (a denoising autoencoder), or L2 weight decay.
"""

from __future__ import annotations

from math import prod

from caegen.compile.graph import Graph
from caegen.core.diagnostics import Diagnostic
from caegen.spec.layers import fmt_shape

CODE = "W104"


def check(graph: Graph) -> list[Diagnostic]:
    latent = graph.node(graph.latent)
    spec = graph.spec
    if latent.shape is None:
        return []
    size, input_size = prod(latent.shape), prod(graph.input_shape)
    regularized = (
        spec.data.noise is not None
        or spec.train.weight_decay.l2 > 0
        or any(
            n.type in ("dropout", "gaussian_noise")
            for n in graph.live_layers()
            if n.section == "encoder"
        )
    )
    if size < input_size or regularized:
        return []
    return [
        Diagnostic(
            CODE,
            f"the latent code {fmt_shape(latent.shape)} ({size:,} values) is not smaller than "
            f"the input {fmt_shape(graph.input_shape)} ({input_size:,}); with no noise or "
            "regularization the autoencoder can learn the identity",
            latent.location,
            "shrink the code, add data.noise: {stddev: 0.3}, or set train.weight_decay.l2",
        )
    ]
