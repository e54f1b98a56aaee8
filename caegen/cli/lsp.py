"""`caegen lsp`: the command; the server is in caegen.editor.lsp (`pip install caegen[lsp]`)."""

from __future__ import annotations

import logging
import sys

from caegen.cli.app import app, fail_message
from caegen.cli.boundary import real_stream


class _OneLine(logging.Formatter):
    """A log record as one line: a malformed message from the editor is logged by pygls
    with its Python traceback, which is not for the user's eyes."""

    def formatException(self, ei: object) -> str:
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None
        return super().format(record).rstrip()


def _one_line_logs() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("caegen lsp: %(message)s"))
    root = logging.getLogger("pygls")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    root.propagate = False


@app.command()
def lsp() -> None:
    """Run the Language Server over stdio: findings while typing, fixes, hover."""
    try:
        from caegen.editor.lsp import serve
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
    _one_line_logs()
    serve()
