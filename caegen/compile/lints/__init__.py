"""Lint rules from practice: one rule per module, each exporting `CODE` and `check(graph)`."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from caegen.compile.graph import Graph
from caegen.compile.lints import (
    backend_dependent_op,
    batch_norm_after_activation,
    decoder_not_separable,
    dense_in_conv_autoencoder,
    dense_on_feature_map,
    loss_activation,
    output_range,
    overcomplete_latent,
    skip_bypasses_bottleneck,
    tiny_bottleneck,
)
from caegen.core.diagnostics import Diagnostic

RULES: tuple[ModuleType, ...] = (
    output_range,
    loss_activation,
    batch_norm_after_activation,
    overcomplete_latent,
    skip_bypasses_bottleneck,
    tiny_bottleneck,
    dense_in_conv_autoencoder,
    decoder_not_separable,
    backend_dependent_op,
    dense_on_feature_map,
)

Rule = Callable[[Graph], list[Diagnostic]]


def run_lints(graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule in RULES:
        out.extend(rule.check(graph))
    return out
