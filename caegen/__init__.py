"""caegen: a declarative config-to-model compiler for convolutional autoencoders.

The static API (`load`, `loads`, `check`) never imports TensorFlow or Keras; `build`,
`train` and `export_onnx` import them on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from caegen.compiler import Report, check
from caegen.diagnostics import CaegenError, Diagnostic, Severity
from caegen.loader import load, loads
from caegen.spec import Spec

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter is not for caegen users; an explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if TYPE_CHECKING:
    from caegen.export import export_onnx
    from caegen.keras_backend import Built, build
    from caegen.training import train

_LAZY = {
    "build": "caegen.keras_backend",
    "Built": "caegen.keras_backend",
    "train": "caegen.training",
    "export_onnx": "caegen.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'caegen' has no attribute {name!r}")


__all__ = [
    "Built",
    "CaegenError",
    "Diagnostic",
    "Report",
    "Severity",
    "Spec",
    "__version__",
    "build",
    "check",
    "export_onnx",
    "load",
    "loads",
    "train",
]
