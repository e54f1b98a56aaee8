"""`caegen sweep --repeats` and `caegen compare`: repeats grouped with intervals, paired
comparisons on the same test images, tasks kept apart, labelled points, and a comparison
that survives damaged runs, NaN metrics and a careless `--out`.

Most tests build run directories on disk through `Run` (the real files: resolved spec,
status, metrics, history, per-image scores) with numbers chosen so that the answer is known;
one trains a real 2 points x 3 repeats sweep.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caegen.core.diagnostics import CaegenError
from caegen.sweep.runner import REPEAT, SweepConfig, open_sweep, repeat_seed, split_repeat
from tests.conftest import ROOT, run_caegen

BLOCKS = ROOT / "examples" / "sweep" / "blocks.yaml"


# --- repeats in a sweep (static: nothing is trained) --------------------------------------
def _config(tmp_path: Path, *sets: str, repeats: int = 3, **extra) -> SweepConfig:
    return SweepConfig(
        spec_path=BLOCKS, sets=list(sets), out=tmp_path / "sweeps", repeats=repeats, **extra
    )


def test_repeats_queue_each_valid_point_k_times_with_derived_recorded_seeds(tmp_path):
    sets = ("encoder[0].filters=2,4", "encoder[0:2]*+decoder[0:2]*=1,3")  # blocks=3: invalid
    sweep = open_sweep(_config(tmp_path, *sets))
    sweep.enqueue_grid()
    trials = sweep.store.trials()
    valid = [t for t in trials if t.state == "queued"]
    invalid = [t for t in trials if t.state == "invalid"]
    assert len(valid) == 2 * 3 and len(invalid) == 2  # an invalid point is recorded once
    seeds = {}
    for t in valid:
        values, repeat = split_repeat(t.point)
        assert repeat in (0, 1, 2) and REPEAT not in values
        spec, _, static, _ = sweep.check_point(t.point, t.number)
        assert spec.train.seed == static["seed"] == t.static["seed"]  # recorded in both
        assert spec.train.seed == repeat_seed(0, values, repeat)
        seeds[(json.dumps(values, sort_keys=True), repeat)] = spec.train.seed
    assert len(set(seeds.values())) == 6  # every repeat of every point has its own seed

    again = open_sweep(_config(tmp_path, *sets))  # the same command continues the sweep
    assert again.resumed and again.folder == sweep.folder
    again.enqueue_grid()
    assert len(again.store.trials()) == len(trials)  # nothing queued twice
    rows = again.leaderboard()
    assert {(r["repeat"], r["seed"]) for r in rows if r["status"] == "queued"} == {
        (k[1], s) for k, s in seeds.items()
    }


def test_repeats_are_a_new_sweep_and_one_repeat_keeps_old_identities(tmp_path):
    one = open_sweep(_config(tmp_path, "encoder[0].filters=2,4", repeats=1))
    one.enqueue_grid()
    assert all(REPEAT not in t.point for t in one.store.trials())
    assert "repeats" not in json.loads((one.folder / "sweep.json").read_text())["identity"]
    three = open_sweep(_config(tmp_path, "encoder[0].filters=2,4", repeats=3))
    assert not three.resumed and three.folder != one.folder


@pytest.mark.parametrize(
    ("sets", "extra", "expected"),
    [
        (("train.seed=0,1",), {}, "sets train.seed"),
        (("encoder[0].filters=2,4",), {"objective": "params"}, "static objective"),
    ],
)
def test_repeats_refuse_what_would_make_them_meaningless(tmp_path, sets, extra, expected):
    with pytest.raises(CaegenError) as info:
        open_sweep(_config(tmp_path, *sets, **extra))
    (d,) = info.value.diagnostics
    assert d.code == "E064" and expected in d.message
    assert not (tmp_path / "sweeps").exists()


def test_random_sampler_counts_points_not_repeats(tmp_path):
    sweep = open_sweep(
        _config(tmp_path, "encoder[0].filters=2..64", sampler="random", max_trials=4)
    )
    while sweep.propose():
        pass
    points = {json.dumps(split_repeat(t.point)[0], sort_keys=True) for t in sweep.store.trials()}
    assert len(points) == 4 and len(sweep.store.trials()) == 12


def test_sweep_command_takes_repeats(tmp_path):
    result = run_caegen(
        "sweep", str(BLOCKS), "--set", "train.seed=1,2", "--repeats", "2", cwd=tmp_path
    )
    assert result.returncode == 1 and "E064" in result.stderr and "Traceback" not in result.stderr


def test_optuna_learns_from_each_points_first_repeat(tmp_path):
    pytest.importorskip("optuna")
    sweep = open_sweep(
        _config(tmp_path, "encoder[0].filters=2..64:log", sampler="tpe", max_trials=3)
    )
    while sweep.propose():
        pass
    trials = sweep.store.trials()
    assert len(trials) == 9
    assert [t.external is not None for t in trials] == [True, False, False] * 3
    assert [split_repeat(t.point)[1] for t in trials] == [0, 1, 2] * 3
