from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture
def spec_text():
    """A valid minimal spec as YAML text, formatted with the given overrides."""

    def make(**sections: str) -> str:
        base = {
            "name": "t",
            "input": "[16, 16, 1]",
            "encoder": "\n  - {type: conv2d, filters: 4, kernel_size: 3, strides: 2}",
            "decoder": "\n  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2}",
        }
        base.update(sections)
        return "".join(f"{k}: {v}\n" for k, v in base.items())

    return make
