"""How the language server logs: one line a record on stderr, never a Python traceback
(a malformed message from the editor is logged by pygls with its traceback)."""

from __future__ import annotations

import logging
import sys


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


def one_line_logs() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("caegen lsp: %(message)s"))
    root = logging.getLogger("pygls")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    root.propagate = False
