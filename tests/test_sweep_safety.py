"""A sweep's fault classes: it deletes and writes only inside its own folder, every sampler
ends, lost points and failed workers are reported (and exit non-zero), non-persistent
storage is refused, and an all-invalid sweep says so."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caegen.core.diagnostics import CaegenError
from caegen.sweep.paths import MARKER
from caegen.sweep.runner import SweepConfig, open_sweep
from tests.conftest import run_caegen
from tests.test_sweep import BLOCKS


@pytest.fixture
def blocks(tmp_path: Path) -> Path:
    path = tmp_path / "blocks.yaml"
    path.write_text(BLOCKS)
    return path


def only_sweep(root: Path) -> Path:
    (folder,) = (root / "blocks").iterdir()
    return folder


def set_run_dir(folder: Path, number: int, run_dir: str) -> None:
    """Tamper with the trial table as anyone who can write study.db can."""
    db = sqlite3.connect(folder / "study.db")
    db.execute("UPDATE caegen_trials SET run_dir = ? WHERE number = ?", (run_dir, number))
    db.commit()
    db.close()


def victim_folder(tmp_path: Path) -> Path:
    """Somebody's folder outside the sweep, shaped like a run stub (so only the path says
    it is not the sweep's)."""
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    (victim / "spec.yaml").write_text("name: x\n")
    return victim


# --- a sweep deletes and writes only inside its own folder ---------------------------------
@pytest.mark.keras
@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "another-trial"])
def test_a_tampered_run_path_is_refused_and_the_folder_it_names_survives(blocks, tmp_path, how):
    config = SweepConfig(
        spec_path=blocks, sets=["encoder[0].filters=2,4"], epochs=1, limit=32, out=tmp_path / "s"
    )
    sweep = open_sweep(config)
    sweep.enqueue_grid()
    victim = victim_folder(tmp_path)
    if how == "absolute":
        stored = str(victim)
    elif how == "dotdot":
        stored = "runs/../../../../precious"
    elif how == "symlink":
        (sweep.folder / "runs").mkdir()
        (sweep.folder / "runs" / "link").symlink_to(victim)
        stored = "runs/link"
    else:  # a run the sweep signed for trial 1, named by trial 0
        victim = sweep.folder / "runs" / "blocks-0001" / "x"
        victim.mkdir(parents=True)
        (victim / MARKER).write_text(json.dumps({"sweep": sweep.sweep_id, "trial": 1}))
        (victim / "thesis.tex").write_text("trial 1's run")
        stored = "runs/blocks-0001/x"
    set_run_dir(sweep.folder, 0, stored)
    before = sorted(p.name for p in victim.iterdir())
    trial = sweep.store.claim()
    assert trial is not None and trial.number == 0
    with pytest.raises(CaegenError) as info:
        sweep.run_trial(trial)
    (d,) = info.value.diagnostics
    assert d.code == "E070" and stored in d.message
    assert sorted(p.name for p in victim.iterdir()) == before  # nothing removed, nothing added
    assert (victim / "thesis.tex").exists()
    recorded = sweep.store.trial(0)
    assert recorded.state == "failed" and recorded.diagnostics[0]["code"] == "E070"
    assert not (sweep.folder / "runs").exists() or how in ("symlink", "another-trial")


@pytest.mark.keras
def test_the_cli_refuses_a_tampered_database_with_a_coded_error(blocks, tmp_path):
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=2", "--epochs", "1"]
    args += ["--limit", "32", "--budget-minutes", "0"]  # records the point, trains nothing
    first = run_caegen(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    folder = only_sweep(tmp_path / "sweeps")
    victim = victim_folder(tmp_path)
    set_run_dir(folder, 0, str(victim))
    again = run_caegen(*args[:-2], cwd=tmp_path)
    assert again.returncode == 1 and "E070" in again.stderr, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    assert (victim / "thesis.tex").read_text() == "years of work"


def _wait(predicate, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(proc.communicate()[0][-3000:] if proc.poll() is not None else "timeout")


def _history(run_dir: Path) -> list[str]:
    return (run_dir / "history.csv").read_text().splitlines()


@pytest.mark.keras
@pytest.mark.slow
def test_ctrl_c_then_a_copy_continued_from_another_cwd_resumes_inside_the_copy(blocks, tmp_path):
    """The run path is kept relative to the sweep folder: neither the cwd of the command
    that continues it nor the folder's place matters, and the checkpoint is used."""
    first_cwd, other_cwd = tmp_path / "a", tmp_path / "elsewhere"
    first_cwd.mkdir()
    other_cwd.mkdir()
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=2", "--epochs", "20"]
    args += ["--limit", "32"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "caegen", *args, "--out", "sweeps"],
        cwd=first_cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    runs = first_cwd / "sweeps" / "blocks"
    _wait(lambda: any(runs.glob("*/runs/*/*/checkpoints/state.json")), proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    (original,) = runs.glob("*/runs/*/*")
    kept = _history(original)
    assert 2 <= len(kept) < 21  # a header and at least one epoch, not all of them

    shutil.copytree(first_cwd / "sweeps", tmp_path / "copy", symlinks=True)
    resumed = run_caegen(*args, "--out", str(tmp_path / "copy"), cwd=other_cwd)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "continuing" in resumed.stdout
    copy = only_sweep(tmp_path / "copy")
    (run,) = copy.glob("runs/*/*")  # the same run, continued: no second run directory
    history = _history(run)
    assert len(history) == 21 and history[: len(kept)] == kept  # its epochs kept, not redone
    assert _history(original) == kept  # the original folder was not touched
    (row,) = json.loads((copy / "leaderboard.json").read_text())
    assert row["status"] == "finished" and (copy / row["run_dir"]).resolve() == run.resolve()
    assert not Path(row["run_dir"]).is_absolute()
