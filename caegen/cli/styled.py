"""Lines with coloured words: `Styled` text, in which user text is never markup."""

from __future__ import annotations

from caegen.cli.terminal import Styled


def styled(*parts: str | tuple[str, str]) -> Styled:
    """`styled(("wrote", "bold green"), " ", path)`: plain strings stay as written."""
    text = Styled()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    return text
