"""W105 skip-bypasses-bottleneck: a decoder layer reads an encoder layer directly.

What it does: flags every decoder `inputs` that names an encoder layer other than the
latent code (or the model input).
Why it is bad: information that skips the bottleneck is not compressed; a U-Net-style
autoencoder can reconstruct well while its latent code learns little, and its decoder
cannot be used alone.
Example: `{type: concatenate, inputs: [decoder.2, encoder.1]}`.
Use instead: remove the skip if the code matters; keep it (and this warning) for U-Nets.
"""

from __future__ import annotations

from caegen.compile.graph import INPUT, Graph
from caegen.core.diagnostics import Diagnostic

CODE = "W105"


def check(graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in graph.live_layers():
        if node.section != "decoder":
            continue
        for src in node.inputs:
            source = graph.node(src)
            if src == graph.latent or source.section == "decoder":
                continue
            what = "the model input" if src == INPUT else f"encoder layer `{src}`"
            out.append(
                Diagnostic(
                    CODE,
                    f"{node.path} (`{node.name}`) reads {what}, bypassing the latent code",
                    node.field_location("inputs"),
                    "read only decoder layers or `latent`, unless a U-Net style skip is intended",
                )
            )
    return out
