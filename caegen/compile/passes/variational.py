"""A variational autoencoder's sampling layer is its latent code, and there is one (E042)."""

from __future__ import annotations

from caegen.compile.graph import Graph
from caegen.core.diagnostics import Diagnostic


def check_sampling(graph: Graph) -> list[Diagnostic]:
    samplers = [n for n in graph.layers() if n.type == "sampling"]
    out: list[Diagnostic] = []
    for extra in samplers[1:]:
        out.append(
            Diagnostic(
                "E042",
                f"{extra.path} (`{extra.name}`): a second sampling layer; a VAE samples its "
                f"latent code once (at `{samplers[0].name}`)",
                extra.location,
                "remove it: the decoder reads the sample",
            )
        )
    for node in samplers[:1]:
        if node.name != graph.latent:
            out.append(
                Diagnostic(
                    "E042",
                    f"{node.path} (`{node.name}`): the sampling layer must be the encoder's "
                    f"output (the latent code), which is `{graph.latent}`",
                    node.location,
                    "make sampling the last encoder layer, reading [z_mean, z_log_var]",
                )
            )
    return out


def is_variational(graph: Graph) -> bool:
    return any(n.type == "sampling" for n in graph.layers())
