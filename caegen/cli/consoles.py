"""The two consoles every command prints through: standard output and standard error."""

from __future__ import annotations

import sys

from rich.console import Console


def _is_terminal(stream: object) -> bool:
    """False for a closed descriptor too (Python then sets sys.stdout to None)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


# When piped, rich assumes 80 columns; layer tables need more to stay unabridged. Markup
# is off: what caegen prints contains user text (paths, names, values), which must come
# out as written, `[bold]` and `[/]` included; colour comes from `Text` styles.
console = Console(
    highlight=False,
    markup=False,
    emoji=False,
    width=None if _is_terminal(sys.stdout) else 140,
)
err_console = Console(
    stderr=True,
    highlight=False,
    markup=False,
    emoji=False,
    width=None if _is_terminal(sys.stderr) else 140,
)
