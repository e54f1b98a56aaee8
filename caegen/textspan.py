"""Where a scalar sits in the spec's text: the span a fix replaces.

Positions give where a key or value starts; the end comes from the text itself, so that a
fix edits exactly the token and nothing around it (comments, quotes, layout stay).
"""

from __future__ import annotations

from caegen.diagnostics import Edit


def scalar_edit(text: str, line: int, column: int, old: str, new: str) -> Edit | None:
    """An edit replacing the scalar `old` written at (line, column), or None if the text
    there is not that scalar (plain, or in single or double quotes)."""
    lines = text.splitlines()
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
