"""The static compiler: spec -> graph -> passes -> a `Report` (diagnostics + summary)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from math import prod
from typing import Any

from caegen.compile.graph import Graph, Node
from caegen.compile.lints import run_lints
from caegen.compile.lints.decoder_not_separable import decoder_reads_encoder
from caegen.compile.passes.data_channels import check_data_channels
from caegen.compile.passes.liveness import mark_liveness
from caegen.compile.passes.one_class import check_one_class_labels
from caegen.compile.passes.reconstruction import check_reconstruction
from caegen.compile.passes.shapes import infer_shapes
from caegen.compile.passes.ssim_window import check_ssim_window
from caegen.compile.passes.suppression import apply_suppressions
from caegen.compile.passes.variational import check_sampling
from caegen.compile.passes.wiring import build_graph
from caegen.core.diagnostics import Diagnostic, Severity
from caegen.spec.layers import ParamCount, Shape, fmt_shape
from caegen.spec.schema import Spec

BYTES_PER_VALUE = 4  # float32 activations


@dataclass
class Report:
    """What `caegen check` found: the annotated graph and every diagnostic."""

    spec: Spec | None
    graph: Graph | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    file: str | None = None
    suppressed: list[Diagnostic] = field(default_factory=list)
    """Warnings and infos acknowledged by `ignore` (layer, spec) or --ignore/--select."""

    # --- verdicts ---------------------------------------------------------------------
    def by_severity(self, severity: Severity) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == severity]

    @property
    def errors(self) -> list[Diagnostic]:
        return self.by_severity(Severity.ERROR)

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.by_severity(Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors

    def passed(self, strict: bool = False) -> bool:
        return self.ok and not (strict and self.warnings)

    # --- the summary (live layers only: what Keras keeps) ------------------------------
    def layers(self) -> list[Node]:
        return self.graph.layers() if self.graph else []

    @property
    def params(self) -> ParamCount:
        total = ParamCount()
        for node in self.layers():
            if node.live and node.params is not None:
                total = total + node.params
        return total

    @property
    def params_known(self) -> bool:
        """Whether `params` is the live graph's count: which layers are live is settled
        (no wiring error leaves it open) and every live layer's params are known."""
        return all(
            not n.liveness_open and (n.params is not None or not n.live) for n in self.layers()
        )

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.layers() if n.live)

    @property
    def latent_shape(self) -> Shape | None:
        return self.graph.node(self.graph.latent).shape if self.graph else None

    @property
    def latent_size(self) -> int | None:
        shape = self.latent_shape
        return prod(shape) if shape is not None else None

    @property
    def compression_ratio(self) -> float | None:
        if self.graph is None or not self.latent_size:
            return None
        return prod(self.graph.input_shape) / self.latent_size

    @property
    def activation_bytes(self) -> int:
        """Activation memory per sample: every live layer's output, float32."""
        return BYTES_PER_VALUE * sum(prod(n.shape) for n in self.layers() if n.live and n.shape)

    @property
    def receptive_field(self) -> tuple[int, int] | None:
        return self.graph.node(self.graph.latent).receptive_field if self.graph else None

    @property
    def decoder_separable(self) -> bool:
        return self.graph is not None and not decoder_reads_encoder(self.graph)

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        """The stable JSON shape of one checked spec (README, "`--format json`").

        `ok` is this file's verdict: no errors, and no warnings either under `strict`.
        """
        graph = self.graph
        params = self.params
        return {
            "file": self.file,
            "spec": self.spec.name if self.spec else None,
            "ok": self.passed(strict),
            "strict": strict,
            "summary": None
            if graph is None
            else {
                "input_shape": list(graph.input_shape),
                "output_shape": _list(graph.node(graph.output).shape),
                "latent": graph.latent,
                "latent_shape": _list(self.latent_shape),
                "latent_size": self.latent_size,
                "compression_ratio": self.compression_ratio,
                "params": {
                    "total": params.total,
                    "trainable": params.trainable,
                    "non_trainable": params.non_trainable,
                },
                "macs": self.macs,
                "activation_bytes": self.activation_bytes,
                "receptive_field": _list(self.receptive_field),
                "decoder_separable": self.decoder_separable,
            },
            "layers": [_layer_dict(n) for n in self.layers()],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "suppressed": [d.to_dict() for d in self.suppressed],
        }

    def ok_line(self) -> str:
        p = self.params
        latent = self.latent_shape
        ratio = self.compression_ratio
        label = self.file or (self.spec.name if self.spec else "spec")
        return (
            f"OK {label}: {p.total:,} params "
            f"({p.trainable:,} trainable, {p.non_trainable:,} non-trainable), "
            f"latent {fmt_shape(latent)} = {self.latent_size or 0:,} values"
            + (f" ({ratio:.3g}x compression)" if ratio else "")
            + self.suppressed_note()
        )

    def suppressed_note(self) -> str:
        n = len(self.suppressed)
        return f"; {n} finding(s) suppressed" if n else ""


def _list(shape: tuple[int, ...] | None) -> list[int] | None:
    return list(shape) if shape is not None else None


def _layer_dict(node: Node) -> dict[str, Any]:
    p = node.params
    return {
        "name": node.name,
        "type": node.type,
        "path": node.path,
        "inputs": list(node.inputs),
        "output_shape": _list(node.shape),
        "params": None
        if p is None
        else {
            "total": p.total,
            "trainable": p.trainable,
            "non_trainable": p.non_trainable,
        },
        "macs": node.macs,
        "live": None if node.liveness_open else node.live,
        "line": node.location.line,
    }


def check(spec: Spec, ignore: Iterable[str] = (), select: Iterable[str] | None = None) -> Report:
    """Run every static pass over a loaded spec. Never imports TensorFlow or Keras.

    `ignore` and `select` (code prefixes, as `--select W1`) filter warnings and infos on
    top of the spec's own `ignore` entries; errors are always reported.
    """
    graph, diagnostics = build_graph(spec)
    wired = not diagnostics
    diagnostics += infer_shapes(graph)
    dead = mark_liveness(graph)
    if wired:  # on a mis-wired graph, dead branches are only echoes of the wiring errors
        diagnostics += dead
    diagnostics += check_reconstruction(graph)
    diagnostics += check_data_channels(spec)
    diagnostics += check_one_class_labels(spec)
    diagnostics += check_ssim_window(graph)
    if wired:
        diagnostics += check_sampling(graph)
    if not any(d.code < "E040" for d in diagnostics if d.severity == Severity.ERROR):
        diagnostics += run_lints(graph)  # lints need a wired, shaped graph
    split = apply_suppressions(diagnostics, spec, graph, ignore, select)
    kept = sorted(split.kept, key=lambda d: (d.location.line or 0, d.location.column or 0))
    file = spec.source.file if spec.source else None
    return Report(spec, graph, kept, file, split.suppressed)
