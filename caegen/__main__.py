"""`python -m caegen` and the `caegen` command.

Two commands start without loading the command line (typer, click, rich, every command's
module): `caegen lsp`, which an editor starts each time it opens a spec, so that its first
findings wait for nothing they do not need (caegen.editor.lsp_start), and `caegen check`,
the command run most (caegen.cli.check_start, which hands anything unusual back). The rest
goes to the typer app.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import suppress


def main() -> None:
    try:
        _start()
    except KeyboardInterrupt:  # Ctrl-C before a command's boundary is in place: at start-up
        with suppress(Exception):
            sys.stderr.write("interrupted\n")
        sys.exit(130)


def _start() -> None:
    if sys.argv[1:] == ["lsp"] and _installed("pygls", "lsprotocol") and _streams_open():
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as the CLI's main does
        from caegen.editor.logs import one_line_logs
        from caegen.editor.lsp_start import serve

        one_line_logs()
        try:
            serve()
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # the CLI's boundary is not loaded on this path
            sys.stderr.write(f"caegen lsp: E079 internal error: {type(exc).__name__}: {exc}\n")
            sys.exit(1)
        return
    if sys.argv[1:2] == ["check"]:
        from caegen.cli.check_start import start

        start(sys.argv[2:])  # exits, unless the command line is for the typer command
    from caegen.cli import main as command_line

    command_line()


def _streams_open() -> bool:
    """Closed ones are the command line's to report (E075)."""
    return all(s is not None and not s.closed for s in (sys.stdin, sys.stdout))


def _installed(*names: str) -> bool:
    """Without them, the typer command says which extra to install (E066)."""
    return all(importlib.util.find_spec(name) is not None for name in names)


if __name__ == "__main__":
    main()
