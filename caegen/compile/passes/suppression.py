"""Acknowledged findings: `ignore` on a layer, `lint.ignore` in the spec, `--ignore` and
`--select` on the command line (I110 for an ignore that matches nothing).

Only warnings and infos can be acknowledged; errors always stand. A layer's `ignore`
covers the findings located on that layer (its path, or any of its keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from caegen.compile.graph import Graph, locate
from caegen.core.diagnostics import CODES, Diagnostic, Severity
from caegen.spec.schema import Spec

CODE = "I110"


@dataclass
class Suppressed:
    kept: list[Diagnostic] = field(default_factory=list)
    suppressed: list[Diagnostic] = field(default_factory=list)


def _selected(code: str, select: Iterable[str] | None) -> bool:
    return select is None or any(code.startswith(prefix) for prefix in select)


def _on_layer(d: Diagnostic, layer_path: str) -> bool:
    path = d.location.path or ""
    return path == layer_path or path.startswith((f"{layer_path}.", f"{layer_path}["))


def apply_suppressions(
    diagnostics: list[Diagnostic],
    spec: Spec,
    graph: Graph,
    ignore: Iterable[str] = (),
    select: Iterable[str] | None = None,
) -> Suppressed:
    """Split findings into kept and suppressed; report ignores in the spec that match none."""
    ignore = {code.upper() for code in ignore}
    select = None if select is None else [s.upper() for s in select]
    layer_ignores = [
        (node, set(node.layer.ignore or []))
        for node in graph.layers()
        if node.layer is not None and node.layer.ignore
    ]
    spec_ignores = set(spec.lint.ignore)
    used: set[tuple[str, str]] = set()
    out = Suppressed()
    for d in diagnostics:
        if d.severity == Severity.ERROR:
            out.kept.append(d)
            continue
        reason = None
        if d.code in ignore or not _selected(d.code, select):
            reason = "cli"
        elif d.code in spec_ignores:
            reason = "spec"
            used.add(("lint", d.code))
        else:
            for node, codes in layer_ignores:
                if d.code in codes and _on_layer(d, node.path):
                    reason = node.path
                    used.add((node.path, d.code))
                    break
        (out.suppressed if reason else out.kept).append(d)
    out.kept += _unused(spec, layer_ignores, spec_ignores, used)
    return out


def _unused(
    spec: Spec,
    layer_ignores: list,
    spec_ignores: set[str],
    used: set[tuple[str, str]],
) -> list[Diagnostic]:
    unused: list[Diagnostic] = []
    for code in sorted(spec_ignores):
        if ("lint", code) not in used:
            unused.append(
                _unused_diagnostic(code, "the spec", locate(spec.source, ("lint", "ignore")))
            )
    for node, codes in layer_ignores:
        for code in sorted(codes):
            if (node.path, code) not in used:
                where = f"{node.path} (`{node.name}`)"
                unused.append(_unused_diagnostic(code, where, node.field_location("ignore")))
    return unused


def _unused_diagnostic(code: str, where: str, location) -> Diagnostic:
    known = code in CODES
    return Diagnostic(
        CODE,
        f"`ignore: [{code}]` on {where} suppresses nothing"
        + ("" if known else f" ({code} is not a caegen code)"),
        location,
        "remove it, so that the finding shows again if it comes back"
        if known
        else "see the code table (docs/diagnostics.md) for the codes",
    )
