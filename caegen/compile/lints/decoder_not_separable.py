"""I108 decoder-not-separable: the decoder cannot be built as a model of its own.

What it does: reports when the reconstruction depends on the encoder through any path
other than the latent code (skip connections, or a decoder layer reading `input`).
Why it matters: `decoder.keras` is not written and `export --part decoder` is
unavailable; you cannot generate from a latent point alone.
Example: a U-Net style `concatenate` of a decoder and an encoder layer.
Use instead: remove the skips if you need the decoder on its own.
"""

from __future__ import annotations

from caegen.compile.graph import Graph, Node
from caegen.core.diagnostics import Diagnostic

CODE = "I108"


def decoder_reads_encoder(graph: Graph) -> list[Node]:
    """Live decoder layers that read anything before the latent other than the latent."""
    return [
        node
        for node in graph.live_layers()
        if node.section == "decoder"
        and any(src != graph.latent and graph.node(src).section != "decoder" for src in node.inputs)
    ]


def check(graph: Graph) -> list[Diagnostic]:
    readers = decoder_reads_encoder(graph)
    if not readers:
        return []
    names = ", ".join(f"`{n.name}`" for n in readers)
    return [
        Diagnostic(
            CODE,
            f"the decoder cannot stand alone: {names} read(s) the encoder side directly, so no "
            "decoder model (latent -> reconstruction) is built or exported",
            readers[0].field_location("inputs"),
            "remove the skip connections if you need a standalone decoder",
        )
    ]
