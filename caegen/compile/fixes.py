"""`caegen check --fix`: apply the fixes diagnostics propose, as minimal text edits.

Only the edited spans change: comments, flow and block style, key order, blank lines and
line endings elsewhere stay byte for byte. A diagnostic may offer several fixes, the best
first (an editor shows them all); `--fix` applies the first one allowed. Fixes are
applied, the spec re-checked, and the loop repeats until no fix is left (bounded, so
fixes never loop).

Fixes honour the same `ignore`, `select` and suppressions as `caegen check`. A safe fix
is certainly intended, so one that only an earlier fix brought to light (an E040 behind a
misspelt key) is applied too; a model-changing one (`unsafe`) only for a finding that
`check` reports on the text as given, never for one an error hid from the lints, which
the check after the fixes shows first. A finding is followed from round to round by its
code and its place, moved along by the edits before it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from caegen.core.diagnostics import CaegenError, Diagnostic, Edit, Fix, Severity

MAX_ROUNDS = 10


@dataclass
class FixResult:
    original: str
    text: str
    applied: list[str] = field(default_factory=list)
    """The titles of the fixes applied, in order."""
    held_back: list[Diagnostic] = field(default_factory=list)
    """Findings left as they are because their only fixes change the model (applied with
    `unsafe` only)."""
    left: list[Diagnostic] = field(default_factory=list)
    """What `check` still reports on the fixed text (a file that does not parse, an error
    no fix is known for, warnings held back)."""

    @property
    def errors_left(self) -> list[Diagnostic]:
        return [d for d in self.left if d.severity is Severity.ERROR]

    def passes(self, strict: bool = False) -> bool:
        """Whether `check` (`--strict`) would pass the fixed text."""
        bad = (Severity.ERROR, Severity.WARNING) if strict else (Severity.ERROR,)
        return not any(d.severity in bad for d in self.left)

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


Span = tuple[int, int, str]
"""An edit as offsets into the text: start, end (exclusive), replacement."""
Finding = tuple[str, int | None]
"""A finding as fixing follows it: its code and the offset of its place (None: no line)."""


def _spans(text: str, edits: Iterable[Edit]) -> list[Span]:
    starts = _offsets(text)

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    return [(offset(e.line, e.column), offset(e.end_line, e.end_column), e.text) for e in edits]


def _apply(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """The text with the spans that do not overlap replaced (later ones first, so earlier
    offsets stay valid), and the spans replaced."""
    out, limit, applied = text, len(text) + 1, []
    for start, end, new in sorted(spans, reverse=True):
        if end > limit:  # overlaps an edit already applied: left for the next round
            continue
        out = out[:start] + new + out[end:]
        limit = start
        applied.append((start, end, new))
    return out, applied


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (an edit overlapping one already applied is skipped)."""
    return _apply(text, _spans(text, edits))[0]


def _finding(d: Diagnostic, starts: list[int]) -> Finding:
    line, column = d.location.line, d.location.column
    if line is None or not 0 < line <= len(starts):
        return (d.code, None)
    return (d.code, starts[line - 1] + (column or 1) - 1)


def _moved(offset: int | None, spans: list[Span]) -> int | None:
    """Where `offset` is once the spans are replaced (the start of a span it was inside)."""
    if offset is None:
        return None
    shift, inside = 0, None
    for start, end, new in spans:
        if end <= offset:
            shift += len(new) - (end - start)
        elif start <= offset:
            inside = start
    return (offset if inside is None else inside) + shift


def _diagnostics(
    text: str, file: str | None, ignore: Iterable[str], select: Iterable[str] | None
) -> list[Diagnostic]:
    from caegen.compile.compiler import check
    from caegen.spec.loader import loads

    try:
        return check(loads(text, file=file), ignore=ignore, select=select).diagnostics
    except CaegenError as exc:
        return exc.diagnostics


def fix_text(
    text: str,
    *,
    unsafe: bool = False,
    file: str | None = None,
    ignore: Iterable[str] = (),
    select: Iterable[str] | None = None,
) -> FixResult:
    """Apply the fixes of the findings `check` reports on `text` (`ignore` and `select` as
    `caegen check --ignore/--select` takes them), round after round until none is left:
    safe fixes, and with `unsafe` the model-changing ones of the findings reported on the
    text as given."""
    ignore = list(ignore)
    select = None if select is None else list(select)
    result = FixResult(original=text, text=text)
    found = _diagnostics(text, file, ignore, select)
    starts = _offsets(text)
    shown = {_finding(d, starts) for d in found}
    for _ in range(MAX_ROUNDS):
        fixes: list[Fix] = []
        for d in found:  # a diagnostic's fixes are alternatives, best first
            seen = unsafe and _finding(d, starts) in shown
            fixes += [f for f in d.fixes if f.applicability == "safe" or seen][:1]
        if not fixes:
            break
        new, spans = _apply(result.text, _spans(result.text, [e for f in fixes for e in f.edits]))
        if new == result.text:
            break
        result.text = new
        result.applied += [f.title for f in fixes]
        shown = {(code, _moved(at, spans)) for code, at in shown}
        found, starts = _diagnostics(new, file, ignore, select), _offsets(new)
    result.left = found
    if not unsafe:
        result.held_back = [
            d
            for d in found
            if d.fixes
            and all(f.applicability != "safe" for f in d.fixes)
            and _finding(d, starts) in shown
        ]
    return result


def fix_file(
    path: Path,
    *,
    unsafe: bool = False,
    write: bool = True,
    ignore: Iterable[str] = (),
    select: Iterable[str] | None = None,
) -> FixResult:
    """Fix a spec file in place (atomically) unless `write` is False (a diff).

    A symbolic link is written through: the file it points at gets the fixes and keeps its
    permission bits. A file that cannot be read as UTF-8 text is E001 with the place of
    its first bad byte."""
    from caegen.core.fsutil import atomic_rewrite_bytes, unwritable
    from caegen.core.inputs import read_input_text
    from caegen.spec.loader import UNREADABLE_HINT

    text = read_input_text(path, "spec file", UNREADABLE_HINT)
    result = fix_text(text, unsafe=unsafe, file=str(path), ignore=ignore, select=select)
    if write and result.changed:
        try:
            atomic_rewrite_bytes(path, result.text.encode("utf-8"))
        except OSError as exc:
            raise unwritable(f"write {path}", exc, "check the file's permissions") from None
    return result
