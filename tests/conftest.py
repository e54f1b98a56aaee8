from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

LONGEST_FIRST = [
    "test_distribute.py",
    "test_sweep.py",
    "test_sweep_safety.py",
    "test_export.py",
    "test_training.py",
    "test_reliability.py",
    "test_bench.py",
    "test_differential.py",
    "test_vae.py",
]
"""The files that take longest, in that order (measured on 2 cores): `make test` hands whole
files to two processes in collection order, and a long file handed out last would leave
one process idle while the other runs it."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


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


def write_keras_cache(root: Path, n_train: int = 48, n_test: int = 16) -> Path:
    """Small files in the formats keras.datasets caches, under root/datasets (KERAS_HOME)."""
    import gzip
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    datasets = root / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    digits = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n_train + n_test, dtype=np.uint8)
    np.savez(
        datasets / "mnist.npz",
        x_train=digits[:n_train],
        y_train=labels[:n_train],
        x_test=digits[n_train:],
        y_test=labels[n_train:],
    )
    fashion = datasets / "fashion-mnist"
    fashion.mkdir(exist_ok=True)
    for prefix, sl in (("train", slice(0, n_train)), ("t10k", slice(n_train, None))):
        with gzip.open(fashion / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + digits[sl].tobytes())
        with gzip.open(fashion / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + labels[sl].tobytes())
    for dirname, files, key in (
        ("cifar-10-batches-py", ("data_batch_1", "test_batch"), b"labels"),
        ("cifar-100-python", ("train", "test"), b"fine_labels"),
    ):
        folder = datasets / dirname
        folder.mkdir(exist_ok=True)
        for name, n in zip(files, (n_train, n_test)):
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            with open(folder / name, "wb") as f:
                pickle.dump({b"data": data, key: list(rng.integers(0, 10, n))}, f)
    return root


@pytest.fixture(scope="session")
def keras_home(tmp_path_factory):
    """KERAS_HOME pointing at small cached datasets, for mnist/cifar specs offline."""
    root = write_keras_cache(tmp_path_factory.mktemp("keras_home"))
    old = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(root)
    yield root
    if old is None:
        os.environ.pop("KERAS_HOME", None)
    else:
        os.environ["KERAS_HOME"] = old


def run_caegen(
    *args: str, cwd: Path | None = None, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m caegen ARGS` in a fresh process, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "caegen", *args],
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
