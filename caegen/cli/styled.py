"""Lines with coloured words, built as rich `Text`: user text in them is never markup."""

from __future__ import annotations

from rich.text import Text


def styled(*parts: str | tuple[str, str]) -> Text:
    """`styled(("wrote", "bold green"), " ", path)`: plain strings stay as written."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    return text
