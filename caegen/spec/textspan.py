"""Where a scalar sits in the spec's text: the span a fix replaces.

Positions give where a key or value starts; the end comes from the text itself, so that a
fix edits exactly the token and nothing around it (comments, quotes, layout stay).
"""

from __future__ import annotations

from functools import lru_cache

from caegen.core.diagnostics import Edit

_BREAKS = "\r\n\x85\u2028\u2029"
"""The characters YAML counts as line breaks (the only ones a spec may contain)."""


@lru_cache(maxsize=8)
def lines_of(text: str) -> list[str]:
    """The text's lines without their breaks. Cached: rules that propose many fixes ask
    for the same text's lines again and again (a fresh split each time is quadratic)."""
    return text.splitlines()


@lru_cache(maxsize=8)
def rows_of(text: str) -> list[str]:
    """The text's lines with their breaks (cached, as `lines_of`)."""
    return text.splitlines(keepends=True)


def line_ending(text: str, row: str) -> str:
    """The line break `row` ends with; for a last line without one, the file's first."""
    ending = row[len(row.rstrip(_BREAKS)) :]
    if ending:
        return ending
    first = rows_of(text)[0] if text else ""
    return first[len(first.rstrip(_BREAKS)) :] or "\n"


def scalar_edit(text: str, line: int, column: int, old: str, new: str) -> Edit | None:
    """An edit replacing the scalar `old` written at (line, column), or None if the text
    there is not that scalar (plain, or in single or double quotes)."""
    lines = lines_of(text)
    if not 0 < line <= len(lines):
        return None
    rest = lines[line - 1][column - 1 :]
    for quote in ("", "'", '"'):
        token = f"{quote}{old}{quote}"
        if rest.startswith(token):
            end = rest[len(token) : len(token) + 1]
            if quote or end in ("", " ", ",", "}", "]", "#", ":"):
                return Edit(line, column, line, column + len(token), f"{quote}{new}{quote}")
    return None


def plain_scalar_at(text: str, line: int, column: int) -> str | None:
    """The scalar written at (line, column), without its quotes (None past the text)."""
    lines = lines_of(text)
    if not 0 < line <= len(lines):
        return None
    rest = lines[line - 1][column - 1 :]
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        return rest[1:end] if end > 0 else None
    for i, ch in enumerate(rest):
        if ch in ",}]#" or (ch == ":" and rest[i + 1 : i + 2] in ("", " ")):
            return rest[:i].rstrip()
    return rest.rstrip()


def rewrite_scalar(text: str, line: int, column: int, expected: str, new: str) -> Edit | None:
    """An edit replacing the scalar written at (line, column), in its own quoting, when it
    says `expected` in any letter case (`'Same'` for same); None otherwise."""
    written = plain_scalar_at(text, line, column)
    if written is None or written.lower() != expected.lower():
        return None
    return scalar_edit(text, line, column, written, new)


def closing_bracket(row: str, start: int) -> int | None:
    """The index of the bracket closing the `{` or `[` at row[start] on the same line
    (brackets inside quotes do not count); None when it does not close there."""
    depth, quote = 0, ""
    for i in range(start, len(row)):
        ch = row[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i
    return None


def flow_mapping_insert(text: str, line: int, column: int, entry: str) -> Edit | None:
    """An edit adding `key: value` as the last entry of the flow mapping `{...}` that opens
    at (line, column) and closes on the same line; None for any other layout."""
    lines = lines_of(text)
    if not 0 < line <= len(lines):
        return None
    row = lines[line - 1]
    if row[column - 1 : column] != "{":
        return None
    end = closing_bracket(row, column - 1)
    if end is None:
        return None
    at = len(row[:end].rstrip())  # before any space ahead of the brace
    return Edit(line, at + 1, line, at + 1, f", {entry}")


def flow_item_line(text: str, line: int, column: int) -> tuple[str, str] | None:
    """(indent with the dash, line ending) of a list item that is a whole one-line flow
    mapping starting at (line, column), e.g. `  - {type: batch_norm}`; None otherwise."""
    lines = rows_of(text)
    if not 0 < line <= len(lines):
        return None
    row = lines[line - 1]
    prefix, body = row[: column - 1], row[column - 1 :].split("#")[0].rstrip()
    if prefix.strip() != "-" or not body.startswith("{") or not body.endswith("}"):
        return None
    return prefix, line_ending(text, row)


def flow_item_after(text: str, line: int, column: int, item: str) -> Edit | None:
    """An edit adding `item` as a new list item after the one-line flow-mapping item at
    (line, column), written with the same indentation and line ending."""
    found = flow_item_line(text, line, column)
    if found is None:
        return None
    prefix, ending = found
    row = rows_of(text)[line - 1]
    if row != row.rstrip(_BREAKS):
        return Edit(line + 1, 1, line + 1, 1, f"{prefix}{item}{ending}")
    end = len(row) + 1  # the file's last line, with no line ending
    return Edit(line, end, line, end, f"{ending}{prefix}{item}")
