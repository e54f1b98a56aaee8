"""`python -m caegen` and the `caegen` command.

`caegen lsp`, which an editor starts each time it opens a spec, does not load the command
line (typer, rich, every command's module): its first findings wait for nothing they do not
need (see caegen.editor.lsp_start). Everything else goes to the typer app.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def main() -> None:
    if sys.argv[1:] == ["lsp"] and _installed("pygls", "lsprotocol"):
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as the CLI's main does
        from caegen.editor.lsp_start import serve

        serve()
        return
    from caegen.cli import main as command_line

    command_line()


def _installed(*names: str) -> bool:
    """Without them, the typer command says which extra to install (E066)."""
    return all(importlib.util.find_spec(name) is not None for name in names)


if __name__ == "__main__":
    main()
