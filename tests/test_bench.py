"""Smoke test of the benchmark scripts: each runs with --quick and writes valid JSON.

No speed is asserted here; the measured ratios live in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run_bench(script: str, *args: str, results: Path, timeout: float) -> None:
    """bench/SCRIPT ARGS, its JSON written under `results`."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        check=True,
        cwd=ROOT,
        env={**os.environ, "CAEGEN_BENCH_RESULTS": str(results)},
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("script", "keys", "sections"),
    [
        ("check_latency.py", {"max_cold_check_s", "min_ratio_vs_keras"}, {"breakdown"}),
        ("onnx_inference.py", {"median_ratio", "max_abs_diff"}, set()),
        ("backend_throughput.py", {"min_ratio", "best_speedup_vs_float32"}, set()),
        ("lsp_latency.py", {"median_ms", "p90_ms", "check_in_process_ms"}, set()),
        ("check_scaling.py", {"ratio", "plain_s", "batch_norm_s", "w103_fixes"}, set()),
        ("bn_recalibration.py", {"ratio_to_epoch", "psnr_before", "psnr_after"}, set()),
        ("score_throughput.py", {"max_scorer_ratio", "command_over_forward_command"}, set()),
    ],
)
def test_bench_script_quick(script, keys, sections, tmp_path):
    run_bench(script, "--quick", results=tmp_path, timeout=300)
    (result,) = tmp_path.glob("*.json")
    data = json.loads(result.read_text())
    assert data["quick"] is True and keys <= set(data["summary"]) and sections <= set(data)
    assert data["machine"]["cores"] >= 1


def test_before_after_quick(tmp_path):
    """The before/after comparison runs both trees (here HEAD against itself), each
    through bench/train_throughput.py --quick, whose summary it reads."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    run_bench("before_after.py", "--quick", "--before", "HEAD", results=tmp_path, timeout=400)
    data = json.loads((tmp_path / "train_before_after.json").read_text())
    assert data["quick"] is True and data["before"] == data["after"]
    assert data["summary"]["caegen_before"] > 0 and data["summary"]["after_over_before"] > 0
