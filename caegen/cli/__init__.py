"""The `caegen` command line: a thin shell over the library API.

Heavy modules (TensorFlow, Keras, tf2onnx) are imported inside the commands that need
them, so `caegen --help` and `caegen check` stay fast.
"""

from __future__ import annotations

from caegen.cli import inspect as _inspect  # noqa: F401  (registers `inspect`)
from caegen.cli import lsp as _lsp  # noqa: F401  (registers `lsp`)
from caegen.cli import sample as _sample  # noqa: F401  (registers `sample`)
from caegen.cli import score as _score  # noqa: F401  (registers `score`)
from caegen.cli import sweep as _sweep  # noqa: F401  (registers `sweep`, `compare`)
from caegen.cli.app import app, main

__all__ = ["app", "main"]
