"""`caegen sweep --objective auroc|aupro`: each trained point is scored for anomalies, the
leaderboard and the best point follow the scores, and `compare` shows them with the repeat
statistics (n, mean, sd, interval) of each point."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("keras")

from caegen.core.diagnostics import CaegenError  # noqa: E402
from caegen.sweep.compare import compare  # noqa: E402
from caegen.sweep.compare.tables import render  # noqa: E402
from caegen.sweep.runner import SweepConfig, open_sweep  # noqa: E402

SPEC = """name: tex-sweep
input: [32, 32, 1]
encoder:
  - {type: conv2d, filters: 8, kernel_size: 3, strides: 2, activation: relu}
  - {type: conv2d, filters: 4, kernel_size: 3, strides: 2, activation: relu}
decoder:
  - {type: conv2d_transpose, filters: 8, kernel_size: 3, strides: 2, activation: relu}
  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2, activation: sigmoid}
data: {source: textures}
train: {batch_size: 32, epochs: 1}
"""


def test_aupro_objective_scores_every_point_and_compare_summarizes_the_repeats(tmp_path):
    spec = tmp_path / "tex.yaml"
    spec.write_text(SPEC)
    config = SweepConfig(
        spec,
        sets=["encoder[1].filters=2,8"],
        objective="aupro",
        limit=64,
        repeats=2,
        out=tmp_path,
    )
    sweep = open_sweep(config)
    sweep.work()
    trials = sweep.store.trials()
    assert [t.state for t in trials] == ["finished"] * 4
    for trial in trials:  # the objective is the run's own `caegen score` result
        run_dir = sweep.folder / trial.run_dir
        report = json.loads((run_dir / "score-mse" / "score.json").read_text())
        assert sweep.objective_value(trial) == report["metrics"]["aupro"]
        assert trial.metrics["auroc"] == report["metrics"]["image_auroc"]
    assert sweep.best() is not None
    doc = json.loads(render(compare([sweep.folder]), "json"))
    assert all(0.0 <= row["auroc"] <= 1.0 and 0.0 <= row["aupro"] <= 1.0 for row in doc["runs"])
    aupro = [g for g in doc["groups"] if g["metric"] == "aupro"]
    assert len(aupro) == 2 and all(g["n"] == 2 for g in aupro)
    for group in aupro:  # each point's two repeats: their mean and spread
        values = [r["aupro"] for r in doc["runs"] if r["group"] == group["group"]]
        assert group["mean"] == pytest.approx(sum(values) / 2)
        assert group["ci_low"] <= group["mean"] <= group["ci_high"]
    assert "auroc" in render(compare([sweep.folder]))


def test_objectives_the_data_cannot_give_are_refused_before_training(tmp_path):
    spec = tmp_path / "digits.yaml"
    spec.write_text(SPEC.replace("[32, 32, 1]", "[16, 16, 1]").replace("textures", "digits"))
    sets = ["encoder[0].filters=4,8"]
    with pytest.raises(CaegenError) as info:
        open_sweep(SweepConfig(spec, sets, objective="auroc", out=tmp_path))
    assert info.value.diagnostics[0].code == "E097"
    one_class = spec.read_text().replace("source: digits", "source: digits, normal: [1]")
    spec.write_text(one_class)
    open_sweep(SweepConfig(spec, sets, objective="auroc", out=tmp_path))  # labels: fine
    with pytest.raises(CaegenError) as info:
        open_sweep(SweepConfig(spec, sets, objective="aupro", out=tmp_path))  # but no masks
    assert info.value.diagnostics[0].code == "E097" and "pixel masks" in str(info.value)
    assert not list(tmp_path.glob("*/*/runs/*"))  # nothing was trained
