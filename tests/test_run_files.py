"""A run's own files are written by training alone: exports, scores and figures that other
commands write never land on them, whatever --out, PATH or --force say (E080)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.core.diagnostics import CaegenError
from tests.conftest import SPECS
from tests.test_inspect import FUSED, finished_run

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return finished_run(caegen.loads(FUSED), tmp_path_factory.mktemp("runs"))


@pytest.mark.keras
@pytest.mark.parametrize("name", ["model.keras", "spec.yaml", "checkpoints/x.onnx", "status.json"])
def test_export_never_replaces_a_file_of_the_run(run, name):
    before = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    result = runner.invoke(
        app, ["export", str(run.path), "--onnx", str(run.path / name), "--force"]
    )
    assert result.exit_code == 1 and "E080" in result.output
    assert {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()} == before


@pytest.mark.keras
@pytest.mark.parametrize("inside", ["", "checkpoints"])
def test_score_never_writes_among_the_runs_own_files(run, inside):
    from caegen.score.runner import score

    with pytest.raises(CaegenError) as caught:
        score(run.path, out=run.path / inside, force=True)
    assert caught.value.diagnostics[0].code == "E080"


@pytest.mark.keras
@pytest.mark.parametrize("layers", [",", "", " ", " , "])
def test_inspect_with_an_empty_layer_list_is_a_coded_error(run, layers, tmp_path):
    out = tmp_path / "figures"
    result = runner.invoke(app, ["inspect", str(run.path), "--layers", layers, "--out", str(out)])
    assert result.exit_code == 1 and "E090 error: --layers names no layer" in result.output
    assert not out.exists()  # refused before anything is drawn


@pytest.mark.keras
def test_compare_inspect_with_no_layer_is_the_same_coded_error(run, tmp_path):
    out = tmp_path / "compared"
    options = ["--out", str(out), "--inspect", " "]
    result = runner.invoke(app, ["compare", str(run.path), *options])
    assert result.exit_code == 1 and "E090 error: --inspect names no layer" in result.output
    assert not out.exists()  # refused before the comparison's own figures


def test_ctrl_c_while_a_run_directory_is_written_leaves_none(tmp_path, monkeypatch):
    """A run directory is whole or absent: one half-written when Ctrl-C came (a sweep's
    point stopped then) would be a run nobody records, beside the one trained again."""
    from caegen.training.rundir import Run

    def interrupted(self, spec):
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "_write_spec", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Run.create(tmp_path / "runs", caegen.loads((SPECS / "quickstart.yaml").read_text()))
    assert list((tmp_path / "runs" / "quickstart").iterdir()) == []
