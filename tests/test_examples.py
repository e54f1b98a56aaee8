"""The examples run end to end (tiny settings) and produce what they promise."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT

pytestmark = [pytest.mark.keras, pytest.mark.slow]


def run(script: str, *args: str, cwd) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_api_end_to_end(tmp_path):
    out = run("api_end_to_end.py", "--epochs", "2", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert "OK " in out and "test PSNR" in out
    assert out.count("max |onnx - keras|") == 3
    assert len(list(tmp_path.glob("runs/quickstart/*/*.onnx"))) == 3


def test_latent_2d_and_compare_runs(tmp_path):
    out = run("latent_2d.py", "--epochs", "3", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    (run_dir,) = tmp_path.glob("runs/digits-2d-latent/*")
    for name in ("latent_scatter.png", "decoded_points.png"):
        pixels = np.asarray(Image.open(run_dir / name).convert("L"))
        assert pixels.std() > 5, name
    assert "wrote" in out
    table = run(
        "compare_runs.py",
        str(run_dir),
        "--train",
        str(ROOT / "specs" / "quickstart.yaml"),
        "--epochs",
        "1",
        "--limit",
        "128",
        "--out",
        str(tmp_path / "runs"),
        "--plot",
        str(tmp_path / "cmp.png"),
        cwd=tmp_path,
    )
    assert "digits-2d-latent" in table and "quickstart" in table
    assert (tmp_path / "cmp.png").stat().st_size > 10_000
