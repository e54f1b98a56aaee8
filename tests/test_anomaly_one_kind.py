"""Anomaly data whose test split holds one kind of image only (all normal, or all anomalous):
image AUROC, AUPRC and AUPRO are undefined. The labels alone show it to `caegen check`
(E093); what only the data shows stops a sweep on an anomaly objective before any point
trains (E094), and is a warning of `train` and `score` (W112), which then write no metrics.
Labels listed twice are refused where they stand. Real specs, the real digits and MVTec-style
folders of real PNG files."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.core.diagnostics import CaegenError
from caegen.score.objective import check_test_kinds
from caegen.spec.schema import json_schema
from caegen.spec.yamlpos import safe_load
from caegen.sweep.runner import SweepConfig, open_sweep
from caegen.training.options import SilentProgress
from tests.test_anomaly_data import make_mvtec, spec_with

runner = CliRunner()
# The digits' test split begins with the labels 6, 6, 6, 2: with `eval_limit: 3` and
# `normal: [6]` it holds normal images only, with `normal: [2]` anomalous ones only.
SPEC = """name: one-kind
input: [16, 16, 1]
encoder:
  - {type: conv2d, filters: 2, kernel_size: 3, strides: 2, activation: relu}
decoder:
  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2, activation: sigmoid}
train: {batch_size: 16, epochs: 1}
data:
  source: digits
"""
DATA_LINE = 10
"""The line of the first line each test adds under `data:` (after `source`)."""
SWEEP = ["encoder[0].filters=2,4"]


def spec_file(tmp_path, data: str):
    path = tmp_path / "one-kind.yaml"
    path.write_text(SPEC + data)
    return path


# --- the labels alone: E093 from the static check ---------------------------------------
@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("  classes: [1, 7]\n  normal: [7, 1]\n", "every label data.classes keeps ([1, 7])"),
        ("  normal: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n", "every label of `digits` (0..9)"),
    ],
)
def test_normal_labels_that_leave_no_anomaly_are_an_error_of_check(tmp_path, data, says):
    path = spec_file(tmp_path, data)
    report = caegen.check(caegen.load(path))
    (d,) = report.errors
    assert d.code == "E093" and says in d.message and "undefined" in d.message
    line = DATA_LINE + data.count("\n") - 1  # `normal:` is the last line
    assert (d.location.file, d.location.line, d.location.path) == (str(path), line, "data.normal")
    assert "out of data.normal" in d.hint or "only the normal labels" in d.hint
    with pytest.raises(CaegenError) as refused:  # and a sweep stops on it before its data
        open_sweep(SweepConfig(path, SWEEP, objective="auroc", out=tmp_path / "sweeps"))
    assert [x.code for x in refused.value.diagnostics] == ["E093"]
    assert not (tmp_path / "sweeps").exists()


def test_normal_labels_that_leave_anomalies_pass():
    for data in (
        "{source: digits, classes: [1, 5, 6], normal: [1, 5]}",
        "{source: digits, normal: [1]}",
    ):
        assert caegen.check(spec_with(data)).ok


# --- labels listed twice: E012 at the repeated entry, and the JSON Schema agrees ----------
@pytest.mark.parametrize("key", ["classes", "normal"])
def test_a_label_listed_twice_is_refused_at_its_second_entry(tmp_path, key):
    path = spec_file(tmp_path, f"  {key}:\n    - 1\n    - 7\n    - 1\n")
    with pytest.raises(CaegenError) as refused:
        caegen.load(path)
    (d,) = refused.value.diagnostics
    assert d.code == "E012" and f"{key} lists 1 twice (entries 0 and 2)" in d.message
    assert (d.location.line, d.location.column) == (DATA_LINE + 3, 7)
    assert d.location.path == f"data.{key}[2]" and "remove entry 2" in d.hint
    validator = jsonschema.Draft202012Validator(json_schema())
    best = jsonschema.exceptions.best_match(validator.iter_errors(safe_load(path.read_text())))
    assert (best.validator, best.json_path) == ("uniqueItems", f"$.data.{key}")


# --- what only the data shows: E094 before a sweep trains --------------------------------
@pytest.mark.parametrize(("normal", "lacking"), [(6, "anomalous"), (2, "normal")])
def test_a_sweep_refuses_a_test_split_of_one_kind_before_anything_exists(tmp_path, normal, lacking):
    path = spec_file(tmp_path, f"  normal: [{normal}]\n  eval_limit: 3\n")
    assert caegen.check(caegen.load(path)).ok  # the labels alone cannot tell
    with pytest.raises(CaegenError) as refused:
        open_sweep(SweepConfig(path, SWEEP, objective="auroc", out=tmp_path / "sweeps"))
    (d,) = refused.value.diagnostics
    assert d.code == "E094" and f"the test split holds no {lacking} image" in d.message
    assert "first 3 of 359 images" in d.message and "--objective auroc" in d.message
    assert (d.location.line, d.location.path) == (DATA_LINE + 1, "data.eval_limit")
    assert "raise data.eval_limit above 3" in d.hint
    assert not (tmp_path / "sweeps").exists()
    open_sweep(SweepConfig(path, SWEEP, objective="psnr", out=tmp_path / "sweeps")).close()


@pytest.mark.parametrize(
    ("remove", "lacking", "hint"),
    [(("crack", "hole"), "anomalous", "test/<defect>/"), (("good",), "normal", "test/good/")],
)
def test_an_mvtec_folder_without_defects_or_good_images(tmp_path, remove, lacking, hint):
    root = make_mvtec(tmp_path / "bottle")
    for kind in remove:
        shutil.rmtree(root / "test" / kind)
        shutil.rmtree(root / "ground_truth" / kind, ignore_errors=True)
    with pytest.raises(CaegenError) as refused:
        check_test_kinds(spec_with(f"{{source: folder, path: '{root}'}}"), "auroc")
    (d,) = refused.value.diagnostics
    assert d.code == "E094" and f"holds no {lacking} image" in d.message
    assert d.location.path == "data.path" and hint in d.hint


@pytest.mark.keras
def test_a_swept_point_whose_test_split_is_one_kind_fails_untrained(tmp_path):
    path = spec_file(tmp_path, "  normal: [6]\n  eval_limit: 359\n")
    config = SweepConfig(path, ["data.eval_limit=2,3"], objective="auroc", out=tmp_path)
    sweep = open_sweep(config)  # the base's whole test split holds both kinds
    try:
        sweep.work()
    finally:
        sweep.close()
    trials = sweep.store.trials()
    assert [t.state for t in trials] == ["failed", "failed"]
    assert all(t.diagnostics[0]["code"] == "E094" for t in trials)
    assert not any((sweep.folder / "runs").glob("*/*"))  # no point was trained


# --- train and score: W112, no metrics written ------------------------------------------
class Warnings(SilentProgress):
    def __init__(self) -> None:
        self.said: list[str] = []

    def warn(self, message: str) -> None:
        self.said.append(message)


@pytest.mark.keras
def test_train_warns_that_the_metrics_will_be_undefined(tmp_path):
    from caegen.training.trainer import dry_run

    heard = Warnings()
    one_kind = caegen.load(spec_file(tmp_path, "  normal: [6]\n  eval_limit: 3\n"))
    dry_run(one_kind, out=tmp_path, progress=heard)
    (said,) = [w for w in heard.said if w.startswith("W112 ")]
    assert "the test split holds no anomalous image" in said
    assert "hint: raise data.eval_limit above 3" in said
    both = Warnings()
    dry_run(caegen.load(spec_file(tmp_path, "  normal: [6]\n")), out=tmp_path, progress=both)
    assert not [w for w in both.said if w.startswith("W112")]


@pytest.fixture(scope="module")
def one_kind_run(tmp_path_factory):
    """A finished run (untrained, seeded weights) whose test split holds normal images only."""
    from tests.test_inspect import finished_run

    tmp = tmp_path_factory.mktemp("one-kind")
    return finished_run(caegen.load(spec_file(tmp, "  normal: [6]\n  eval_limit: 3\n")), tmp)


@pytest.mark.keras
def test_score_says_the_metrics_are_undefined_and_writes_none(one_kind_run, tmp_path):
    from caegen.score.runner import ScoreOptions, score

    result = score(one_kind_run.path, options=ScoreOptions(figures=False), out=tmp_path / "a")
    (d,) = result.warnings
    assert d.code == "W112" and "holds no anomalous image" in d.message
    assert result.metrics == {} and len(result.scores) == 3
    written = json.loads((tmp_path / "a" / "score.json").read_text())
    assert written["metrics"] == {} and [w["code"] for w in written["warnings"]] == ["W112"]
    cli = runner.invoke(app, ["score", str(one_kind_run.path), "--out", str(tmp_path / "b")])
    assert cli.exit_code == 0, cli.output
    assert "W112 warning: the test split holds no anomalous image" in cli.output
    assert "image      AUROC" not in cli.output
    # images given to score, labelled by folder, of one kind: the same warning
    root = make_mvtec(tmp_path / "bottle")
    for kind in ("crack", "hole"):
        shutil.rmtree(root / "test" / kind)
        shutil.rmtree(root / "ground_truth" / kind)
    options = ScoreOptions(figures=False, fit=True)
    given = score(one_kind_run.path, [root], options=options, out=tmp_path / "c")
    (d,) = given.warnings
    assert d.code == "W112" and "the images scored hold no anomalous image (all 2 are" in d.message
