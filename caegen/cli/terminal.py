"""Styled text and the terminal it is printed on, without rich.

`caegen check` is the command people run most (by hand, in save hooks, in CI), and loading
rich costs it about a fifth of its time. Reports and diagnostics are therefore built as
`Styled` text and written by a `Terminal`, which speaks the few ANSI codes they use and
decides on colour the way rich does (a terminal, FORCE_COLOR, NO_COLOR, TTY_COMPATIBLE, a
dumb TERM). The commands that draw progress bars and live tables still use rich: `Styled`
prints there too, through `__rich__`.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any

ATTRIBUTES = {"bold": 1, "dim": 2, "italic": 3, "underline": 4, "strike": 9}
COLOURS = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36}


class Styled:
    """Text made of spans, each with a style such as "bold red": the part of rich's `Text`
    that caegen's reports use. User text in it is never markup."""

    __slots__ = ("spans", "style")

    def __init__(self, text: str = "", style: str = "") -> None:
        self.spans: list[tuple[str, str]] = [(text, "")] if text else []
        self.style = style  # the whole text's, under each span's own

    def append(self, text: str, style: str = "") -> Styled:
        if text:
            self.spans.append((text, style))
        return self

    def append_text(self, other: Styled) -> Styled:
        self.spans += [(text, _joined(other.style, style)) for text, style in other.spans]
        return self

    def join(self, parts: Iterable[Styled]) -> Styled:
        """The parts with this text between them (as `str.join`), in a new `Styled`."""
        joined = Styled()
        for i, part in enumerate(parts):
            if i:
                joined.append_text(self)
            joined.append_text(part)
        return joined

    def rstrip(self) -> None:
        while self.spans:
            text, style = self.spans[-1]
            stripped = text.rstrip()
            if stripped:
                self.spans[-1] = (stripped, style)
                return
            self.spans.pop()

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.spans)

    def __str__(self) -> str:
        return self.plain

    def render(self, *, ansi: bool, colour: bool = True) -> str:
        """The text, with ANSI codes around each styled piece of a line when `ansi`
        (attributes only, not colours, when not `colour`)."""
        if not ansi:
            return self.plain
        out = []
        for text, style in self.spans:
            codes = sgr(_joined(self.style, style), colour=colour)
            if not codes:
                out.append(text)
                continue
            out.append(
                "\n".join(
                    f"\x1b[{codes}m{line}\x1b[0m" if line else line for line in text.split("\n")
                )
            )
        return "".join(out)

    def __rich__(self) -> Any:
        from rich.text import Text

        text = Text(style=self.style)
        for piece, style in self.spans:
            text.append(piece, style=style or None)
        return text


def _joined(outer: str, inner: str) -> str:
    return f"{outer} {inner}".strip()


def sgr(style: str, *, colour: bool = True) -> str:
    """ "bold red" -> "1;31": the Select Graphic Rendition parameters of a style."""
    codes: set[int] = set()
    fore = None
    for word in style.split():
        if word in ATTRIBUTES:
            codes.add(ATTRIBUTES[word])
        elif word in COLOURS:
            fore = COLOURS[word]  # the last colour named wins
    if fore is not None and colour:
        codes.add(fore)
    return ";".join(str(code) for code in sorted(codes))


def cell_width(text: str) -> int:
    """Columns `text` takes in a terminal: East Asian wide characters take two, combining
    marks none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def is_terminal(stream: Any, environ: Any = os.environ) -> bool:
    """Whether `stream` takes ANSI codes, decided as rich decides it."""
    forced = environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        terminal = forced == "1"
    elif environ.get("FORCE_COLOR") is not None:
        terminal = environ["FORCE_COLOR"] != ""
    else:
        try:
            terminal = stream is not None and bool(stream.isatty())
        except (AttributeError, OSError, ValueError):
            terminal = False
    return terminal and environ.get("TERM", "").lower() not in ("dumb", "unknown")


class Terminal:
    """Prints `Styled` text (or a string) on `sys.stdout` or `sys.stderr`, looked up at each
    print: tests and the command line's boundary replace them."""

    def __init__(self, name: str) -> None:
        self.name = name

    def print(self, text: Styled | str) -> None:
        stream = getattr(sys, self.name)
        if isinstance(text, str):
            text = Styled(text)
        ansi = is_terminal(stream)
        colour = os.environ.get("NO_COLOR", "") == ""
        if stream is None:
            raise OSError(9, "it is closed")  # as writing to a closed descriptor does
        stream.write(text.render(ansi=ansi, colour=colour) + "\n")


stdout = Terminal("stdout")
stderr = Terminal("stderr")
