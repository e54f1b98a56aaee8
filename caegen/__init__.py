"""caegen: a declarative config-to-model compiler for convolutional autoencoders.

The static API (`load`, `loads`, `check`) never imports TensorFlow or Keras; `build`,
`train` and `export_onnx` import them on first use. Every name is imported when first
asked for, so `import caegen` alone costs nothing (the command line's fast starts decide
what to load before loading it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# TensorFlow's C++ start-up chatter is not for caegen users; an explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if TYPE_CHECKING:
    from caegen.compile.compiler import Report, check
    from caegen.core.diagnostics import CaegenError, Diagnostic, Severity
    from caegen.core.version import __version__
    from caegen.emit.keras_model import Built, build
    from caegen.export.onnx_export import export_onnx
    from caegen.spec.loader import load, loads
    from caegen.spec.schema import Spec
    from caegen.training.options import TrainOptions
    from caegen.training.rundir import Run
    from caegen.training.trainer import train

_LAZY = {
    "Report": "caegen.compile.compiler",
    "check": "caegen.compile.compiler",
    "CaegenError": "caegen.core.diagnostics",
    "Diagnostic": "caegen.core.diagnostics",
    "Severity": "caegen.core.diagnostics",
    "__version__": "caegen.core.version",
    "load": "caegen.spec.loader",
    "loads": "caegen.spec.loader",
    "Spec": "caegen.spec.schema",
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

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # asked once
        return value
    raise AttributeError(f"module 'caegen' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The API's names before they are imported too (completion in a shell or an editor)."""
    return sorted({*globals(), *__all__})


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
