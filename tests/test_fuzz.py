"""A short run of bench/fuzz_inputs.py (the full one reaches 1,000,000 cases): mutated
specs, --set strings, space files and damaged run and sweep state files give diagnostics,
never another exception, and no case takes long."""

from __future__ import annotations

import os
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from fuzz_inputs import fuzz


def test_a_few_thousand_mutated_inputs_give_only_diagnostics():
    seed = int(os.environ.get("CAEGEN_FUZZ_SEED", "0"))
    summary = fuzz(3000, seed=seed, workers=1)
    assert summary["failures"] == 0, summary["failure_samples"]
    assert not summary["too_slow"], summary
    assert all(n > 200 for n in summary["by_kind"].values()), summary["by_kind"]
