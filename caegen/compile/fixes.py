"""`caegen check --fix`: apply the fixes diagnostics propose, as minimal text edits.

Only the edited spans change: comments, flow and block style, key order, blank lines and
line endings elsewhere stay byte for byte. A diagnostic may offer several fixes, the best
first (an editor shows them all); `--fix` applies the first one allowed. Fixes are
applied, the spec re-checked, and the loop repeats until no fix is left (bounded, so
fixes never loop).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from caegen.core.diagnostics import CaegenError, Diagnostic, Edit, Fix

MAX_ROUNDS = 10


@dataclass
class FixResult:
    original: str
    text: str
    applied: list[str] = field(default_factory=list)
    """The titles of the fixes applied, in order."""

    @property
    def changed(self) -> bool:
        return self.text != self.original

    def diff(self, name: str) -> str:
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=f"a/{name}",
                tofile=f"b/{name}",
            )
        )


def _offsets(text: str) -> list[int]:
    """The offset of each line's first character (line endings kept as they are)."""
    starts, total = [0], 0
    for line in text.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (later ones first, so earlier offsets stay valid)."""
    starts = _offsets(text)

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    spans = sorted(
        ((offset(e.line, e.column), offset(e.end_line, e.end_column), e.text) for e in edits),
        reverse=True,
    )
    out, limit = text, len(text) + 1
    for start, end, new in spans:
        if end > limit:  # overlaps an edit already applied: left for the next round
            continue
        out = out[:start] + new + out[end:]
        limit = start
    return out


def _diagnostics(text: str, file: str | None) -> list[Diagnostic]:
    from caegen.compile.compiler import check
    from caegen.spec.loader import loads

    try:
        return check(loads(text, file=file)).diagnostics
    except CaegenError as exc:
        return exc.diagnostics


def fix_text(text: str, *, unsafe: bool = False, file: str | None = None) -> FixResult:
    result = FixResult(original=text, text=text)
    allowed = {"safe", "unsafe"} if unsafe else {"safe"}
    for _ in range(MAX_ROUNDS):
        fixes: list[Fix] = []
        for d in _diagnostics(result.text, file):  # a diagnostic's fixes are alternatives,
            usable = [f for f in d.fixes if f.applicability in allowed]  # best first
            fixes += usable[:1]
        if not fixes:
            break
        new = apply_edits(result.text, [e for f in fixes for e in f.edits])
        if new == result.text:
            break
        result.text = new
        result.applied += [f.title for f in fixes]
    return result


def fix_file(path: Path, *, unsafe: bool = False, write: bool = True) -> FixResult:
    """Fix a spec file in place (atomically) unless `write` is False (a diff).

    A symbolic link is written through: the file it points at gets the fixes and keeps its
    permission bits. A file that cannot be read as UTF-8 text is E001 with the place of
    its first bad byte."""
    from caegen.core.fsutil import atomic_rewrite_bytes, unwritable
    from caegen.core.inputs import read_input_text

    text = read_input_text(path, "spec file", "pass a YAML spec file")
    result = fix_text(text, unsafe=unsafe, file=str(path))
    if write and result.changed:
        try:
            atomic_rewrite_bytes(path, result.text.encode("utf-8"))
        except OSError as exc:
            raise unwritable(f"write {path}", exc, "check the file's permissions") from None
    return result
