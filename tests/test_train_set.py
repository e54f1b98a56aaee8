"""`caegen train SPEC --set PATH=VALUE`: one-off changes with the sweep's paths, checked
before anything runs and recorded in the run's resolved spec."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from tests.conftest import SPECS

QUICKSTART = str(SPECS / "quickstart.yaml")
runner = CliRunner()


def train(*args: str):
    return runner.invoke(app, ["train", *args])


def test_a_misspelt_path_is_refused_with_a_suggestion_before_anything_is_written(tmp_path):
    result = train(QUICKSTART, "--set", "encoder[0].filtrs=8", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "E064" in result.output and "did you mean `filters`" in result.output
    result = train(QUICKSTART, "--set", "trian.seed=3", "--out", str(tmp_path))
    assert result.exit_code == 1 and "did you mean `train`" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("encoder[0].filters=8,16", "takes one"),  # several values: a sweep's
        ("encoder[9].filters=8", "has no layer 9"),
        ("train.seed", "no `=`"),
    ],
)
def test_other_bad_settings_are_e064(setting, expected, tmp_path):
    result = train(QUICKSTART, "--set", setting, "--out", str(tmp_path))
    assert result.exit_code == 1 and "E064" in result.output and expected in result.output


def test_a_value_the_spec_cannot_take_names_the_path_that_was_set(tmp_path):
    result = train(QUICKSTART, "--set", "encoder[0].filters=-3", "--out", str(tmp_path))
    assert result.exit_code == 1 and "E012" in result.output
    assert "with --set encoder[0].filters=-3" in result.output and "encoder[0].filters" in (
        result.output
    )


def test_set_does_not_combine_with_resume_alone(tmp_path):
    result = train("--resume", str(tmp_path), "--set", "train.seed=1")
    assert result.exit_code == 1 and "E061" in result.output


@pytest.mark.keras
@pytest.mark.slow
def test_set_changes_the_resolved_spec_of_the_run(tmp_path):
    pytest.importorskip("keras")
    args = ["--epochs", "1", "--limit", "64", "--batch-size", "32", "--out", str(tmp_path)]
    sets = [
        "--set",
        "encoder[0].filters=8",
        "--set",
        "train.optimizer.learning_rate=1e-3",
        "--set",
        "encoder[0].kernel_size=[5, 5]",
    ]
    result = train(QUICKSTART, *sets, *args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "quickstart").iterdir()
    spec = caegen.load(run / "spec.yaml")
    assert spec.encoder[0].filters == 8 and spec.encoder[0].kernel_size == (5, 5)
    assert spec.train.optimizer.learning_rate == 1e-3
    original = caegen.load(QUICKSTART)
    assert original.encoder[0].filters == 16 and spec.spec_hash() != original.spec_hash()
    assert f"# spec-hash: {spec.spec_hash()}" in (run / "spec.yaml").read_text()
