"""`caegen lsp`: the command; the server is in caegen.editor.lsp (`pip install caegen[lsp]`)."""

from __future__ import annotations

import sys

from caegen.cli.commands import app, fail_message
from caegen.cli.streams import real_stream
from caegen.editor.logs import one_line_logs


@app.command()
def lsp() -> None:
    """Run the Language Server over stdio: findings while typing, fixes, hover."""
    try:  # the server imports them after its first findings (caegen.editor.lsp_start)
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError as exc:
        raise fail_message(
            "E066",
            f"`caegen lsp` needs {exc.name or 'pygls'}, which is not installed",
            "pip install 'caegen[lsp]' (pygls 2.x)",
        ) from None
    if sys.stdin is None or real_stream(sys.stdout) is None:
        raise fail_message(
            "E075",
            "the language server talks over standard input and output, and one is closed",
            "let the editor start `caegen lsp`: it connects both to itself",
        )
    one_line_logs()
    from caegen.editor.lsp_start import serve

    serve()
