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
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=2", "--epochs", "12"]
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
    assert 2 <= len(kept) < 13  # a header and at least one epoch, not all of them

    shutil.copytree(first_cwd / "sweeps", tmp_path / "copy", symlinks=True)
    resumed = run_caegen(*args, "--out", str(tmp_path / "copy"), cwd=other_cwd)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "continuing" in resumed.stdout
    copy = only_sweep(tmp_path / "copy")
    (run,) = copy.glob("runs/*/*")  # the same run, continued: no second run directory
    history = _history(run)
    assert len(history) == 13 and history[: len(kept)] == kept  # its epochs kept, not redone
    assert _history(original) == kept  # the original folder was not touched
    (row,) = json.loads((copy / "leaderboard.json").read_text())
    assert row["status"] == "finished" and (copy / row["run_dir"]).resolve() == run.resolve()
    assert not Path(row["run_dir"]).is_absolute()


# --- every sampler ends --------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["tpe", "qmc", "cmaes", "random"])
def test_every_sampler_ends_when_its_space_runs_out(blocks, tmp_path, sampler):
    """Two points and --max-trials 5: Optuna keeps proposing the two it has seen; each
    proposal counts, and the exhausted space ends the search with a message."""
    if sampler != "random":
        pytest.importorskip("optuna")
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=1,2", "--sampler", sampler]
    started = time.monotonic()
    result = run_caegen(
        *args, "--objective", "params", "--max-trials", "5", cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30
    assert "search ended: the space is exhausted: all 2 of its points" in result.stdout
    rows = json.loads((only_sweep(tmp_path / "sweeps") / "leaderboard.json").read_text())
    assert sorted(r["point"]["encoder[0].filters"] for r in rows) == [1, 2]


def test_repeated_proposals_count_toward_max_trials(blocks, tmp_path):
    """A space far larger than --max-trials, where TPE repeats itself: every proposal counts,
    so the search stops at the budget, not at the N-th new point."""
    optuna = pytest.importorskip("optuna")
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=1..400", "--sampler", "tpe"]
    result = run_caegen(*args, "--objective", "params", "--max-trials", "30", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "search ended: --max-trials 30 reached" in result.stdout
    folder = only_sweep(tmp_path / "sweeps")
    study = optuna.load_study(study_name="caegen", storage=f"sqlite:///{folder / 'study.db'}")
    assert len(study.trials) == 30  # one ask per proposal, repeats included, and no more
    rows = json.loads((folder / "leaderboard.json").read_text())
    assert len(rows) <= 30 and len({json.dumps(r["point"]) for r in rows}) == len(rows)


@pytest.mark.parametrize(
    ("sets", "code", "words"),
    [
        (
            ["encoder[0].filters=1..1000000000000", "decoder[0].filters=1..1000000000000"],
            "E071",
            "the grid has 1,000,000,000,000,000,000,000,000 points",
        ),
        (
            ["train.optimizer.learning_rate=1e-4..1e-2:log:1000000000000"],
            "E071",
            "the grid has 1,000,000,000,000 points",
        ),
        (["encoder[0:2]*+decoder[0:2]*=1000000000000"], "E071", "copies of a block"),
        (["encoder[0:2]*+decoder[0:2]*=1..1000000000000"], "E071", "copies of a block"),
        (["encoder[0:2]*+decoder[0:2]*=1.5,2"], "E064", "1.5 is not a block count"),
        (["encoder[0:2]*+decoder[0:2]*=1.5..3"], "E064", "block counts are whole numbers"),
        (["encoder[0:2]*+decoder[0:2]*=two"], "E064", "'two' is not a block count"),
        (["train.optimizer.learning_rate=1e-4..1e-2:log:0"], "E064", "a range of 0 points"),
        (["encoder[0].filters="], "E064", "has no values"),
    ],
)
def test_unbounded_or_malformed_spaces_are_refused_before_any_work(
    blocks, tmp_path, sets, code, words
):
    args = ["sweep", str(blocks)]
    for s in sets:
        args += ["--set", s]
    started = time.monotonic()
    result = run_caegen(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and code in result.stderr and words in result.stderr, (
        result.stderr
    )
    assert "Traceback" not in result.stderr and time.monotonic() - started < 20
    assert not (tmp_path / "sweeps").exists()


def test_a_sampler_over_a_continuous_range_needs_an_end(blocks, tmp_path):
    args = ["sweep", str(blocks), "--set", "train.optimizer.learning_rate=1e-4..1e-2:log"]
    result = run_caegen(*args, "--sampler", "random", cwd=tmp_path)
    assert result.returncode == 1 and "E071" in result.stderr and "--max-trials" in result.stderr


def test_a_large_grid_shows_its_progress_while_it_is_queued(blocks, tmp_path):
    seen: list[tuple[int, int]] = []

    class Progress:
        def queueing(self, done: int, total: int) -> None:
            seen.append((done, total))

    config = SweepConfig(spec_path=blocks, sets=["encoder[0].filters=1..400"], out=tmp_path)
    sweep = open_sweep(config)
    sweep.enqueue_grid(Progress())
    assert len(sweep.store.trials()) == 400
    assert seen and all(total == 400 for _, total in seen)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})


# --- liveness is the owner's lock; lost points and failed workers are reported ------------
HOLD_A_LOCK = """
import sys, time
from pathlib import Path
from caegen.sweep.owner import Owner
owner = Owner(Path(sys.argv[1]))
print(owner.id, flush=True)
time.sleep(600)
"""


def test_a_point_is_orphaned_when_its_owner_lock_is_free_whatever_its_pid(blocks, tmp_path):
    import socket

    from caegen.sweep.store import QUEUED, RUNNING

    sweep = open_sweep(
        SweepConfig(spec_path=blocks, sets=["encoder[0].filters=1,2,3,4"], out=tmp_path)
    )
    sweep.enqueue_grid()
    host = socket.gethostname()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_LOCK, str(sweep.folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        live = holder.stdout.readline().strip()
        owners = {
            0: live,  # a process that holds its lock
            1: f"{os.getpid()}@{host}#0123456789ab",  # a live pid (ours), but nobody's lock
            2: f"{os.getpid()}@{host}",  # an older caegen's owner whose pid is reused
            3: f"4242@elsewhere-{host}#0123456789ab",  # another machine's, not visible here
        }
        for number, owner in owners.items():
            sweep.store.update(number, state=RUNNING, owner=owner)
        tally = sweep.tally()
        assert (tally["running"], tally["orphaned"]) == (2, 2)
        assert sweep.store.requeue_orphans(sweep.orphaned) == 2
        assert [t.state for t in sweep.store.trials()] == [RUNNING, QUEUED, QUEUED, RUNNING]
        holder.kill()  # kill -9: the kernel drops the lock
        holder.wait()
        assert sweep.tally()["orphaned"] == 1
        assert sweep.store.requeue_orphans(sweep.orphaned) == 1
        assert sweep.store.trial(0).state == QUEUED
    finally:
        holder.kill()
        holder.wait()


def _worker_pids(parent: int) -> list[int]:
    try:
        text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _running_owner_pids(folder: Path) -> list[int]:
    try:
        db = sqlite3.connect(folder / "study.db", timeout=30)
        rows = db.execute("SELECT owner FROM caegen_trials WHERE state = 'running'").fetchall()
        db.close()
    except sqlite3.Error:
        return []
    return [int(owner.split("@")[0]) for (owner,) in rows if owner]


@pytest.mark.keras
@pytest.mark.slow
def test_a_killed_worker_makes_the_sweep_fail_and_its_point_is_not_lost(blocks, tmp_path):
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=1,2,3", "--epochs", "3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "caegen", *args, "--limit", "32", "--jobs", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    root = tmp_path / "sweeps" / "blocks"
    victims: list[int] = []

    def a_worker_trains() -> bool:
        folders = list(root.glob("*")) if root.exists() else []
        if not folders:
            return False
        running = set(_running_owner_pids(folders[0])) & set(_worker_pids(proc.pid))
        victims.extend(running)
        return bool(running)

    _wait(a_worker_trains, proc)
    os.kill(victims[0], signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    assert "E074" in out and "worker" in out and "was killed by SIGKILL" in out
    folder = only_sweep(tmp_path / "sweeps")
    rows = json.loads((folder / "leaderboard.json").read_text())
    # the survivor took the orphaned point over: every point finished, none twice
    assert sorted(r["status"] for r in rows) == ["finished"] * 3, out
    assert "3 finished" in out and "0 orphaned" in out


def test_workers_read_the_sweep_folder_not_the_users_space_file(blocks, tmp_path):
    """A space given as a pipe (`--space <(...)`) can be read once: the workers take the
    copy in the sweep folder."""
    fifo = tmp_path / "space.fifo"
    os.mkfifo(fifo)
    args = ["sweep", str(blocks), "--space", str(fifo), "--objective", "params", "--jobs", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "caegen", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with fifo.open("w") as f:  # blocks until the sweep opens it
        f.write("encoder[0].filters: [1, 2, 3]\n")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "3 finished" in out and "0 queued" in out


def test_a_worker_on_a_folder_that_is_not_a_sweep_is_a_coded_error(tmp_path):
    result = run_caegen("sweep", "--worker", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and "E052" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "storage", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://", "sqlite:///"]
)
def test_a_storage_that_forgets_is_refused(blocks, tmp_path, storage):
    args = ["sweep", str(blocks), "--set", "encoder[0].filters=1,2", "--objective", "params"]
    result = run_caegen(*args, "--storage", storage, cwd=tmp_path)
    assert result.returncode == 1 and "E072" in result.stderr, result.stdout + result.stderr
    assert not (tmp_path / "sweeps").exists()


def test_a_sweep_whose_points_are_all_invalid_fails_with_a_message(blocks, tmp_path):
    args = ["sweep", str(blocks), "--set", "encoder[0:2]*+decoder[0:2]*=3,4,5"]
    result = run_caegen(*args, "--objective", "params", cwd=tmp_path)
    assert result.returncode == 1 and "E073" in result.stderr
    assert "no point of the sweep finished: 3 invalid" in result.stderr
    assert "0 finished, 3 invalid" in result.stdout


# --- the README's learning-rate sweep, and the smaller silent wrong results ----------------
def test_a_field_under_a_defaulted_optimizer_keeps_the_defaults_name(blocks, tmp_path):
    sweep = open_sweep(
        SweepConfig(
            spec_path=blocks, sets=["train.optimizer.learning_rate=1e-4..1e-2:log:3"], out=tmp_path
        )
    )
    for point in sweep.space.grid():
        spec, diagnostics, _, _ = sweep.check_point(point)
        assert diagnostics == [] and spec is not None
        assert spec.train.optimizer.name == "adam"
        assert spec.train.optimizer.learning_rate == point["train.optimizer.learning_rate"]


@pytest.mark.keras
def test_the_readmes_learning_rate_sweep_trains(tmp_path):
    import yaml

    from tests.conftest import ROOT

    spec = ROOT / "examples" / "sweep" / "blocks.yaml"
    sets = ["train.optimizer.learning_rate=1e-4..1e-2:log:2"]
    sweep = open_sweep(SweepConfig(spec_path=spec, sets=sets, epochs=1, limit=32, out=tmp_path))
    sweep.work()
    sweep.close()
    assert sweep.tally()["finished"] == 2 and sweep.tally()["invalid"] == 0
    trained = [
        yaml.safe_load(p.read_text())["train"]["optimizer"]
        for p in sorted(sweep.folder.glob("runs/*/*/spec.yaml"))
    ]
    assert [(o["name"], o["learning_rate"]) for o in trained] == [("adam", 1e-4), ("adam", 1e-2)]


@pytest.mark.parametrize(
    ("space", "words", "line"),
    [
        ("encoder[0].filters: [1, 2]\nencoder[0].filters: [3]\n", "given twice", 2),
        ("train.optimizer.learning_rate: {low: 1.0e-4, high: 1.0e-2, steps: 0}\n", "0 points", 1),
        ("encoder[0].filters: {low: 1, high: 4, step: 2}\n", "did you mean `steps`", 1),
        ("encoder[0].filters: {low: 1, high: 4, steps: 2.5}\n", "not a whole number", 1),
        ("encoder[0].filters: [2]\nencoder[0].kernel_size: []\n", "has no values", 2),
        ("encoder[0].filters: [2]\nencoder[0:2]*: [1, 2.5]\n", "2.5 is not a block count", 2),
    ],
)
def test_space_file_mistakes_are_refused_at_their_line(blocks, tmp_path, space, words, line):
    path = tmp_path / "space.yaml"
    path.write_text(space)
    with pytest.raises(CaegenError) as info:
        open_sweep(SweepConfig(spec_path=blocks, space_file=path, out=tmp_path / "s"))
    (d,) = info.value.diagnostics
    assert d.code == "E064" and words in d.message + (d.hint or ""), d
    assert (d.location.file, d.location.line) == (str(path), line)
    assert not (tmp_path / "s").exists()


def test_values_spelled_twice_are_one_point(blocks, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("data.noise.stddev: [0, 0.0, 0.3, 0.30]\nencoder[0:2]*: [1, 1.0, 2]\n")
    sets = ["encoder[0].filters=2,2.0"]
    sweep = open_sweep(SweepConfig(spec_path=blocks, space_file=path, sets=sets, out=tmp_path))
    assert len(sweep.space.grid()) == 4  # {0, 0.3} x {1, 2} x {2}
    assert sweep.space.describe()["encoder[0:2]*"] == [1, 2]


# --- what Optuna (and its dashboard) see in the storage ------------------------------------
@pytest.fixture(scope="module")
def optuna_sweep(tmp_path_factory) -> Path:
    """A TPE sweep of 4 points (2 invalid), trained, with --max-trials larger than the
    space: Optuna re-proposes points it has seen."""
    pytest.importorskip("optuna")
    root = tmp_path_factory.mktemp("optuna")
    spec = root / "blocks.yaml"
    spec.write_text(BLOCKS)
    sets = ["encoder[0].filters=1,2", "encoder[0:2]*+decoder[0:2]*=1,3"]
    config = SweepConfig(spec, sets, sampler="tpe", max_trials=12, epochs=1, limit=32, out=root)
    sweep = open_sweep(config)
    sweep.work()
    sweep.close()
    return sweep.folder


@pytest.mark.keras
def test_optuna_sees_one_trial_per_point_with_caegens_record(optuna_sweep):
    import optuna

    folder = optuna_sweep
    study = optuna.load_study(study_name="caegen", storage=f"sqlite:///{folder / 'study.db'}")
    rows = {r["trial"]: r for r in json.loads((folder / "leaderboard.json").read_text())}
    assert len(rows) == 4
    points = [t for t in study.trials if "duplicate_of" not in t.user_attrs]
    repeats = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert sorted(t.user_attrs["caegen_trial"] for t in points) == sorted(rows)
    assert len({json.dumps(t.params, sort_keys=True) for t in points}) == 4
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 2 and len({json.dumps(t.params, sort_keys=True) for t in complete}) == 2
    for t in repeats:  # closed without a value, out of the samplers' way, naming the point
        assert t.state.name == "FAIL" and t.values is None
        assert rows[t.user_attrs["duplicate_of"]]["point"] == t.user_attrs["point"]
    for t in points:
        row = rows[t.user_attrs["caegen_trial"]]
        attrs = t.user_attrs
        assert attrs["point"] == row["point"] and attrs["status"] == row["status"]
        assert (attrs["params"], attrs["macs"]) == (row["params"], row["macs"])
        if row["status"] == "invalid":
            assert t.state.name == "PRUNED"
            assert t.system_attrs["constraints"] == [1.0] and t.constraints["invalid"] == 1.0
            (reason,) = attrs["reason"]
            assert reason["code"] == "E031" and reason["layer"].startswith("encoder[")
            assert reason["message"] in row["reason"]
        else:
            assert t.state.name == "COMPLETE" and t.value == row["test_psnr"]
            assert t.system_attrs["constraints"] == [0.0]
            assert attrs["run_dir"] == row["run_dir"] and (folder / attrs["run_dir"]).is_dir()
            assert attrs["metrics"]["psnr"] == row["test_psnr"]
            assert attrs["metrics"]["ssim"] == row["test_ssim"]


@pytest.mark.keras
def test_optuna_dashboard_marks_invalid_points_infeasible(optuna_sweep):
    """As optuna-dashboard serializes a trial for its pages (its own reading of the
    storage): invalid points have a violated constraint, valid ones none."""
    import optuna

    serializer = pytest.importorskip("optuna_dashboard._serializer")
    study = optuna.load_study(study_name="caegen", storage=f"sqlite:///{optuna_sweep / 'study.db'}")
    shown = [
        serializer.serialize_frozen_trial(study._study_id, t, {})
        for t in study.trials
        if "duplicate_of" not in t.user_attrs
    ]
    infeasible = [s for s in shown if any(c > 0 for c in s["constraints"])]
    assert len(infeasible) == 2 and all(s["state"] == "Pruned" for s in infeasible)
    feasible = [s for s in shown if s["constraints"] and all(c <= 0 for c in s["constraints"])]
    assert len(feasible) == 2 and all(s["state"] == "Complete" for s in feasible)
    caegen_numbers = [
        a["value"] for s in shown for a in s["user_attrs"] if a["key"] == "caegen_trial"
    ]
    assert sorted(caegen_numbers) == ["0", "1", "2", "3"]
