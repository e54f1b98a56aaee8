"""`caegen sweep` and `caegen compare`: invalid points rejected statically, never trained;
sweeps that resume after Ctrl-C and kill -9; two workers on one study; TPE that learns
where the invalid region is; a comparison whose numbers are the runs' own."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from caegen.core.diagnostics import CaegenError
from caegen.sweep.space import Space, check_overlaps, dimension
from tests.conftest import ROOT, SPECS, run_caegen

BLOCKS = (ROOT / "examples" / "sweep" / "blocks.yaml").read_text()
# 1..5 pooling blocks on 28x28: 28 -> 14 -> 7 -> 4 (rounded up) -> ...: 3 of 5 cannot come back
GRID = ["encoder[0:2]*+decoder[0:2]*=1,2,3,4,5", "encoder[0].filters=2,4"]


@pytest.fixture
def blocks(tmp_path):
    path = tmp_path / "blocks.yaml"
    path.write_text(BLOCKS)
    return path


def base() -> dict:
    return yaml.safe_load(BLOCKS)


# --- the space (static, no TensorFlow) -----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("encoder[0].filterz=1,2", "did you mean `filters`?"),
        ("encoder[7].filters=1,2", "encoder has no layer 7 (it has 2)"),
        ("train.optimiser.learning_rate=1,2", "did you mean `optimizer`?"),
        ("train.optimizer.learning_rat=1e-3,1e-2", "did you mean `learning_rate`?"),
        ("data.noise.stdev=0.1", "did you mean `stddev`?"),
        ("encoder[0:5]*=1,2", "not within encoder's 2 layers"),
        ("encoder[1]*=1,2", "`*` repeats a slice"),
        ("encoder[0].filters", "has no `=`"),
        ("train.optimizer.learning_rate=1e-2..1e-4:log", "not a range"),
    ],
)
def test_unknown_paths_and_bad_values_are_located_errors(text, expected):
    with pytest.raises(CaegenError) as info:
        dimension(text, base(), where="--set")
    (d,) = info.value.diagnostics
    assert d.code == "E064" and expected in d.message + " " + (d.hint or "")


def test_points_change_values_then_structure_by_the_base_indices():
    dims = [
        dimension("encoder[0].filters=8,16", base()),
        dimension("encoder[0:2]*+decoder[0:2]*=1,2", base()),
        dimension("decoder[2]=[{type: conv2d, filters: 1, kernel_size: 1}]", base()),
        dimension("data.noise.stddev=0,0.3", base()),
    ]
    space = Space(base(), dims)
    assert len(space.grid()) == 8
    spec = space.apply(
        {
            "encoder[0].filters": 16,
            "encoder[0:2]*+decoder[0:2]*": 2,
            "decoder[2]": {"type": "conv2d", "filters": 1, "kernel_size": 1},
            "data.noise.stddev": 0.3,
        }
    )
    assert [layer["type"] for layer in spec["encoder"]] == ["conv2d", "max_pool2d"] * 2
    assert [layer["filters"] for layer in spec["encoder"][::2]] == [16, 16]
    assert len(spec["decoder"]) == 5 and spec["decoder"][-1]["kernel_size"] == 1
    assert spec["data"]["noise"] == {"stddev": 0.3}
    plain = space.apply({**space.grid()[0], "data.noise.stddev": 0})
    assert "noise" not in plain["data"]  # stddev 0 is a plain autoencoder


def test_switching_a_layer_off_and_ranges():
    space = Space(base(), [dimension("encoder[1]=on,off", base())])
    assert [len(space.apply(p)["encoder"]) for p in space.grid()] == [2, 1]
    lr = dimension("train.optimizer.learning_rate=1e-4..1e-2:log:3", base())
    assert lr.grid() == [0.0001, 0.001, 0.01]
    filters = dimension("encoder[0].filters=2..64:log", base())
    draws = [Space(base(), [filters]).sample(seed=0, number=n) for n in range(50)]
    assert all(
        isinstance(d["encoder[0].filters"], int) and 2 <= d["encoder[0].filters"] <= 64
        for d in draws
    )
    again = [Space(base(), [filters]).sample(seed=0, number=n) for n in range(50)]
    assert draws == again  # keyed by (seed, number) alone


def test_two_dimensions_on_one_layer_are_refused():
    dims = [dimension("encoder[1]=on,off", base()), dimension("encoder[0:2]*=1,2", base())]
    with pytest.raises(CaegenError, match="both change encoder"):
        check_overlaps(dims)


# --- sweeps, end to end --------------------------------------------------------------------
def caegen(*args: str, cwd: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    return run_caegen(*args, cwd=cwd, timeout=timeout)


def sweep_args(spec: Path, *extra: str) -> list[str]:
    args = ["sweep", str(spec)]
    for s in GRID:
        args += ["--set", s]
    return [*args, "--epochs", "1", "--limit", "64", *extra]


def the_sweep(tmp_path: Path) -> Path:
    (folder,) = (tmp_path / "sweeps" / "blocks").iterdir()
    return folder


def leaderboard(folder: Path) -> list[dict]:
    return json.loads((folder / "leaderboard.json").read_text())


def run_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("runs/*/*") if p.is_dir())


@pytest.mark.keras
@pytest.mark.slow
def test_grid_trains_exactly_the_valid_points_and_lists_the_invalid_ones(blocks, tmp_path):
    result = caegen(*sweep_args(blocks), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = the_sweep(tmp_path)
    rows = leaderboard(folder)
    assert len(rows) == 10
    valid = [r for r in rows if r["status"] == "finished"]
    invalid = [r for r in rows if r["status"] == "invalid"]
    assert len(invalid) == 6 and len(valid) == 4  # at least half the grid cannot come back
    assert {r["point"]["encoder[0:2]*+decoder[0:2]*"] for r in valid} == {1, 2}
    assert len(run_dirs(folder)) == 4  # nothing was built for an invalid point
    text = (folder / "invalid.txt").read_text()
    assert text.count("E031 at encoder[") == 6
    assert all(r["check_ms"] < 1000 and r["run_dir"] is None for r in invalid)
    for row in valid:  # the leaderboard's numbers are the runs' own
        metrics = json.loads((folder / row["run_dir"] / "metrics.json").read_text())
        assert row["test_psnr"] == metrics["psnr"] and row["test_mse"] == metrics["mse"]
    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert best["name"] == "blocks-best"
    assert "6 invalid (rejected statically" in result.stdout

    again = caegen(*sweep_args(blocks), cwd=tmp_path)  # the same command: nothing to do
    assert again.returncode == 0 and "continuing" in again.stdout
    assert len(run_dirs(folder)) == 4


def _wait_for(predicate, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(proc.communicate()[0][-3000:] if proc.poll() is not None else "timeout")


def _states(folder: Path) -> dict[str, int]:
    try:
        db = sqlite3.connect(folder / "study.db", timeout=30)
        rows = db.execute("SELECT state, COUNT(*) FROM caegen_trials GROUP BY state").fetchall()
        db.close()
        return dict(rows)
    except (sqlite3.Error, FileNotFoundError):
        return {}


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_a_stopped_sweep_resumes_and_trains_no_point_twice(blocks, tmp_path, how):
    proc = subprocess.Popen(
        [sys.executable, "-m", "caegen", *sweep_args(blocks)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    sweeps = tmp_path / "sweeps" / "blocks"

    def first_done() -> bool:
        folders = list(sweeps.glob("*")) if sweeps.exists() else []
        return bool(folders) and _states(folders[0]).get("finished", 0) >= 1

    _wait_for(first_done, proc)
    if how == "sigint":
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "run the same command again" in out
    else:
        time.sleep(1.0)  # likely in the middle of the next training
        proc.kill()
        proc.wait()
    folder = the_sweep(tmp_path)
    json.loads((folder / "leaderboard.json").read_text())  # never half-written
    resumed = caegen(*sweep_args(blocks), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = leaderboard(folder)
    assert sorted(r["status"] for r in rows) == ["finished"] * 4 + ["invalid"] * 6, [
        (r["status"], r["reason"]) for r in rows
    ]
    dirs = run_dirs(folder)
    assert len(dirs) == 4  # each valid point trained once (a killed one resumed in place)
    assert len({r["run_dir"] for r in rows if r["run_dir"]}) == 4


@pytest.mark.keras
@pytest.mark.slow
def test_two_jobs_share_one_study(blocks, tmp_path):
    result = caegen(*sweep_args(blocks, "--jobs", "2"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = the_sweep(tmp_path)
    db = sqlite3.connect(folder / "study.db")
    rows = db.execute("SELECT point, state, owner, run_dir FROM caegen_trials").fetchall()
    assert len(rows) == 10 and len({r[0] for r in rows}) == 10  # no point lost or repeated
    trained = [r for r in rows if r[1] == "finished"]
    assert len(trained) == 4 and len(run_dirs(folder)) == 4
    assert len({r[2].split("@")[0] for r in trained}) == 2  # two worker processes trained


def test_tpe_learns_to_avoid_the_invalid_region(blocks, tmp_path):
    """Invalid points are pruned trials with a violated constraint, so TPE learns from them
    (it ignores FAIL trials). A static objective: nothing is trained, only checked."""
    optuna = pytest.importorskip("optuna")
    sets = [
        "encoder[0:2]*+decoder[0:2]*=1,2,3,4",  # half of the blocks cannot come back
        "encoder[0].filters=2..64:log",
        "decoder[0].filters=2..64:log",
    ]
    args = ["sweep", str(blocks), "--sampler", "tpe", "--objective", "params"]
    args += ["--max-trials", "60", "--seed", "0"]
    for s in sets:
        args += ["--set", s]
    result = caegen(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = the_sweep(tmp_path)
    study = optuna.load_study(study_name="caegen", storage=f"sqlite:///{folder / 'study.db'}")
    proposed = study.trials
    assert len(proposed) == 60  # one ask per proposal, a point proposed again included
    status = {r["trial"]: r["status"] for r in leaderboard(folder)}
    invalid = [  # a point proposed again is as invalid as the point it repeats
        status[t.user_attrs["duplicate_of"]] == "invalid"
        if "duplicate_of" in t.user_attrs
        else t.constraints.get("invalid", 0) > 0
        for t in proposed
    ]
    assert all(t.state.name in ("PRUNED", "FAIL") for t, bad in zip(proposed, invalid) if bad)
    first, second = sum(invalid[:30]), sum(invalid[30:60])
    assert second < first, (first, second)


def test_an_unknown_path_stops_before_anything_is_created(blocks, tmp_path):
    result = caegen("sweep", str(blocks), "--set", "encoder[0].filterz=4,8", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "E064" in result.stderr and "did you mean `filters`" in result.stderr
    assert not (tmp_path / "sweeps").exists()


# --- compare -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    import caegen as lib

    out = tmp_path_factory.mktemp("runs")
    spec = lib.load(SPECS / "quickstart.yaml")
    runs = []
    for filters in (4, 8, 16):
        text = (SPECS / "quickstart.yaml").read_text().replace("filters: 16", f"filters: {filters}")
        text = text.replace("name: quickstart", f"name: q{filters}")
        runs.append(lib.train(lib.loads(text), epochs=2, batch_size=32, limit=128, out=out).run_dir)
    del spec
    return runs


@pytest.mark.keras
@pytest.mark.slow
def test_compare_table_and_figures(three_runs, tmp_path):
    result = caegen(
        "compare", *map(str, three_runs), "--format", "json", "--out", str(tmp_path / "c"), cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["runs"]
    assert len(rows) == 3
    for row, run in zip(rows, three_runs):
        metrics = json.loads((run / "metrics.json").read_text())
        assert row["psnr"] == metrics["psnr"] and row["ssim"] == metrics["ssim"]
        assert row["mse"] == metrics["mse"] and row["epochs"] == 2
    assert any(row["pareto"] for row in rows)
    assert [row["label"].split(",")[0] for row in rows] == [  # what differs, not the names
        f"encoder[0].filters={f}" for f in (4, 8, 16)
    ]
    for name in ("quality_vs_size.png", "loss_curves.png", "reconstructions.png"):
        image = np.asarray(Image.open(tmp_path / "c" / name).convert("L"))
        assert image.shape[0] > 200 and image.std() > 10, name
    markdown = caegen("compare", *map(str, three_runs), "--format", "markdown", cwd=ROOT)
    assert markdown.stdout.startswith("**runs**\n\n| group | label | run |")
    # a row per run, per group and metric, and per pair of groups
    assert markdown.stdout.count("\n| G") == 3 + 3 * 3 + 3


def test_compare_without_runs_is_a_clear_error(tmp_path):
    result = caegen("compare", str(tmp_path), cwd=ROOT)
    assert result.returncode == 1 and "E052" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("sampler", ["qmc", "cmaes", "random"])
def test_other_samplers_run_a_static_search(blocks, tmp_path, sampler):
    pytest.importorskip("optuna")
    args = ["sweep", str(blocks), "--sampler", sampler, "--objective", "macs"]
    args += ["--max-trials", "12", "--set", "encoder[0:2]*+decoder[0:2]*=1,2,3"]
    args += ["--set", "encoder[0].filters=2..32:log"]
    result = caegen(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = leaderboard(the_sweep(tmp_path))
    # 12 proposals; a point proposed again counts as one but is not a second row
    assert 6 <= len(rows) <= 12 and any(r["status"] == "finished" for r in rows)
    assert all(r["status"] in ("finished", "invalid") for r in rows)
    assert "search ended: --max-trials 12 reached" in result.stdout
