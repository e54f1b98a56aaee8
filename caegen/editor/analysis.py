"""What an editor shows for a spec being typed: its findings, the layer under the cursor.

Pure functions over the text, with no editor protocol in them (`caegen.editor.lsp` speaks LSP);
positions are 1-based lines and character columns, as in diagnostics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caegen.compile.compiler import Report
from caegen.compile.graph import Node
from caegen.core.diagnostics import CaegenError, Diagnostic, Location, internal_error
from caegen.spec.layers import fmt_shape
from caegen.spec.textspan import closing_bracket

# A document is treated as a spec when it has a top-level encoder or decoder, or names
# caegen's schema in a modeline; other YAML (CI files, compose files) gets no findings.
_SPEC_MARKERS = re.compile(r"^(encoder|decoder)\s*:|caegen\.schema\.json", re.MULTILINE)
_TOKEN_END = re.compile(r"[,}\]#\s]")
CODE_ACTION_KINDS = ("quickfix", "source.fixAll")
"""The kinds of code action the Language Server offers (fixes; all safe fixes at once)."""


@dataclass
class Analysis:
    diagnostics: list[Diagnostic]
    report: Report | None
    """None when the text did not load (YAML or schema errors)."""


def is_spec(text: str) -> bool:
    return _SPEC_MARKERS.search(text) is not None


def analyze(text: str, file: str | None = None) -> Analysis:
    """Load and check the text as `caegen check` would (never imports TensorFlow)."""
    from caegen.compile.compiler import check
    from caegen.spec.loader import loads

    if not is_spec(text):
        return Analysis([], None)
    try:
        report = check(loads(text, file=file))
    except CaegenError as exc:
        return Analysis(exc.diagnostics, None)
    except Exception as exc:  # a bug: say so in the editor, in place of stale findings
        return Analysis([internal_error(exc, Location(file, 1, 1))], None)
    return Analysis(report.diagnostics, report)


def span(text: str, line: int | None, column: int | None) -> tuple[int, int, int, int]:
    """The (line, column, end_line, end_column) a finding underlines: the flow mapping or
    scalar that starts there, else the rest of the line (1-based, end exclusive)."""
    lines = text.splitlines()
    if not line or not 0 < line <= len(lines):
        return (1, 1, 1, 1)
    row = lines[line - 1]
    start = column or (len(row) - len(row.lstrip()) + 1)
    rest = row[start - 1 :]
    if rest.startswith(("{", "[")):
        end = closing_bracket(row, start - 1)  # 0-based: the exclusive column is end + 2
        return (line, start, line, len(row) + 1 if end is None else end + 2)
    if column is None:
        return (line, start, line, len(row.rstrip()) + 1)
    match = _TOKEN_END.search(rest)
    length = match.start() if match and match.start() > 0 else max(1, len(rest.rstrip()))
    return (line, start, line, start + length)


def layer_at(report: Report, line: int) -> Node | None:
    """The layer whose list item spans `line` (its first line up to the next item or key)."""
    source = report.spec.source if report.spec else None
    if source is None or report.graph is None:
        return None
    starts: list[tuple[int, Node | None]] = []
    for node in report.graph.layers():
        at = source.positions.value_at.get((node.section, node.index))
        if at is not None:
            starts.append((at[0], node))
    for key, at in source.positions.key_at.items():
        if len(key) == 1:  # a top-level key ends the layer list above it
            starts.append((at[0], None))
    found: Node | None = None
    for start, node in sorted(starts, key=lambda s: s[0]):
        if start > line:
            break
        found = node
    return found


def hover_text(report: Report, node: Node) -> str:
    """Markdown for a layer: its output, params, MACs and receptive field."""
    p = node.params
    lines = [
        f"**{node.path}** `{node.name}` ({node.type})" + (" — dead" if node.dead else ""),
        "",
        f"- inputs: {', '.join(node.inputs) or 'the input'}",
        f"- output: {fmt_shape(node.shape) if node.shape else 'unknown (see the errors)'}",
    ]
    if p is not None:
        lines.append(f"- params: {p.total:,} ({p.trainable:,} trainable)")
    lines.append(f"- MACs: {node.macs:,}")
    if node.receptive_field:
        lines.append(f"- receptive field: {fmt_shape(node.receptive_field)} input pixels")
    if report.graph is not None and node.name == report.graph.latent:
        lines.append(f"- the latent code: {report.latent_size or 0:,} values")
    return "\n".join(lines)
