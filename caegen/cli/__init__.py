"""The `caegen` command line: a thin shell over the library API.

Heavy modules (TensorFlow, Keras, tf2onnx) are imported inside the commands that need
them, so `caegen --help` and `caegen check` stay fast. The typer app itself is loaded only
when `app` or `main` is asked for: `caegen check`'s fast start (caegen.cli.check_start)
lives in this package and must not load it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'caegen.cli' has no attribute {name!r}")
    from caegen.cli import commands
    from caegen.cli import inspect as _inspect  # noqa: F401  (registers `inspect`)
    from caegen.cli import lsp as _lsp  # noqa: F401  (registers `lsp`)
    from caegen.cli import sample as _sample  # noqa: F401  (registers `sample`)
    from caegen.cli import score as _score  # noqa: F401  (registers `score`)
    from caegen.cli import sweep as _sweep  # noqa: F401  (registers `sweep`, `compare`)

    return getattr(commands, name)
