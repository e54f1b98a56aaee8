"""caegen: a declarative config-to-model compiler for convolutional autoencoders.

The static API (`load`, `loads`, `check`) never imports TensorFlow or Keras; `build`,
`train` and `export_onnx` import them on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from caegen.compile.compiler import Report, check
from caegen.core.diagnostics import CaegenError, Diagnostic, Severity
from caegen.core.version import __version__
from caegen.spec.loader import load, loads
from caegen.spec.schema import Spec

# TensorFlow's C++ start-up chatter is not for caegen users; an explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if TYPE_CHECKING:
    from caegen.emit.keras_model import Built, build
    from caegen.export.onnx_export import export_onnx
    from caegen.training.options import TrainOptions
    from caegen.training.rundir import Run
    from caegen.training.trainer import train

_LAZY = {
    "build": "caegen.emit.keras_model",
    "Built": "caegen.emit.keras_model",
    "train": "caegen.training.trainer",
    "export_onnx": "caegen.export.onnx_export",
    "Run": "caegen.training.rundir",
    "TrainOptions": "caegen.training.options",
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
    "Run",
    "Severity",
    "Spec",
    "TrainOptions",
    "__version__",
    "build",
    "check",
    "export_onnx",
    "load",
    "loads",
    "train",
]
