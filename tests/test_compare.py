"""`caegen sweep --repeats` and `caegen compare`: repeats grouped with intervals, paired
comparisons on the same test images, tasks kept apart, labelled points, and a comparison
that survives damaged runs, NaN metrics and a careless `--out`.

Most tests build run directories on disk through `Run` (the real files: resolved spec,
status, metrics, history, per-image scores) with numbers chosen so that the answer is known;
one trains a real 2 points x 3 repeats sweep.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from caegen.core.diagnostics import CaegenError
from caegen.spec.loader import loads
from caegen.spec.schema import Spec
from caegen.sweep.runner import REPEAT, SweepConfig, open_sweep, repeat_seed, split_repeat
from caegen.training.rundir import FINISHED, INTERRUPTED, Run
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


@pytest.mark.keras
@pytest.mark.slow
def test_a_trained_sweep_of_two_points_by_three_repeats_compares_as_two_groups(tmp_path):
    args = ["sweep", str(BLOCKS), "--set", "encoder[0].filters=2,4", "--repeats", "3"]
    result = run_caegen(*args, "--epochs", "1", "--limit", "32", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "best by mean" in result.stdout
    (folder,) = (tmp_path / "sweeps" / "blocks").iterdir()
    rows = json.loads((folder / "leaderboard.json").read_text())
    assert sorted((r["point"]["encoder[0].filters"], r["repeat"]) for r in rows) == [
        (f, r) for f in (2, 4) for r in (0, 1, 2)
    ]
    for row in rows:  # the seed recorded in the trial is the one the run trained with
        spec = yaml.safe_load((folder / row["run_dir"] / "spec.yaml").read_text())
        assert spec["train"]["seed"] == row["seed"]
    assert len({r["seed"] for r in rows}) == 6

    doc = compare_json(folder)
    groups = by_group(doc)
    assert set(groups) == {"encoder[0].filters=2", "encoder[0].filters=4"}
    for row in groups.values():
        assert row["n"] == 3 and row["ci_low"] < row["mean"] < row["ci_high"]
    assert len(doc["comparisons"]) == 1 and len(doc["rankings"]) == 1


# --- run directories built on disk ---------------------------------------------------------
QUICKSTART = yaml.safe_load((ROOT / "specs" / "quickstart.yaml").read_text())
IMAGES = 120


def spec_of(seed: int = 0, filters: int = 16, noise: float | None = None, **data) -> Spec:
    """The quickstart spec with another first-layer width, seed, noise or data."""
    raw = copy.deepcopy(QUICKSTART)
    raw["encoder"][0]["filters"] = filters
    raw["train"]["seed"] = seed
    raw["data"].update(data)
    if noise is not None:
        raw["data"]["noise"] = {"stddev": noise}
    return loads(yaml.safe_dump(raw))


def make_run(
    out: Path,
    spec: Spec,
    psnr: np.ndarray,
    *,
    noisy_psnr: np.ndarray | None = None,
    split: int | None = None,
    metrics: dict | None = None,
) -> Path:
    """A finished run directory, written through `Run`, whose per-image PSNRs are `psnr`
    (and whose metrics.json holds their means, as a trained run's does)."""
    run = Run.create(out, spec)
    run.write_history(
        [{"epoch": e, "loss": 0.5 / e, "val_loss": 0.6 / e, "seconds": 1.0} for e in (1, 2)]
    )
    mse = 10.0 ** (-psnr / 10.0)
    ssim = np.clip(psnr / 40.0, 0, 1)
    columns = {"image": np.arange(len(psnr)), "mse": mse, "psnr": psnr, "ssim": ssim}
    recorded = {
        "psnr": float(psnr.mean()),
        "ssim": float(ssim.mean()),
        "mse": float(mse.mean()),
        "test_images": len(psnr),
        "test_split_images": split or len(psnr),
        "epochs": 2,
        "images_per_s": 1000.0,
        "train_seconds": 2.0,
    }
    if noisy_psnr is not None:
        noisy_mse = 10.0 ** (-noisy_psnr / 10.0)
        noisy_ssim = np.clip(noisy_psnr / 40.0, 0, 1)
        columns |= {"noisy_mse": noisy_mse, "noisy_psnr": noisy_psnr, "noisy_ssim": noisy_ssim}
        recorded |= {
            "noisy_input_psnr": float(noisy_psnr.mean()),
            "noisy_input_ssim": float(noisy_ssim.mean()),
            "psnr_gain_db": float(psnr.mean() - noisy_psnr.mean()),
        }
    run.write_per_image(columns)
    run.write_metrics(recorded | (metrics or {}))
    run.mark(FINISHED, 2)
    run.release()
    return run.path


def scores(seed: int, shift: float = 0.0, n: int = IMAGES) -> np.ndarray:
    """Per-image PSNRs: a fixed image difficulty, a repeat's own noise, and a shift."""
    difficulty = np.random.default_rng(1234).normal(20.0, 3.0, n)
    return difficulty + shift + np.random.default_rng(seed).normal(0.0, 0.4, n)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str | Path) -> Ran:
    """`caegen ARGS` in this process (typer's CliRunner): scipy and numpy load only once."""
    from typer.testing import CliRunner

    from caegen.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: the test fails with it
    return Ran(result.exit_code, result.stdout, result.stderr)


def compare_json(*paths: Path, extra: tuple[str, ...] = ()) -> dict:
    result = cli("compare", *paths, "-f", "json", *extra)
    assert result.returncode == 0, result.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON output")

    return json.loads(result.stdout, parse_constant=refuse)


def by_group(document: dict, metric: str = "psnr") -> dict[str, dict]:
    return {r["label"]: r for r in document["groups"] if r["metric"] == metric}


def test_separate_runs_group_by_all_but_the_seed_with_t_intervals(tmp_path):
    from scipy import stats

    runs = [
        make_run(tmp_path, spec_of(seed=s, filters=f), scores(s, shift=0.1 * s))
        for f in (4, 8)
        for s in (0, 1, 2)
    ]
    doc = compare_json(*runs)
    groups = by_group(doc)
    assert set(groups) == {"encoder[0].filters=4", "encoder[0].filters=8"}
    for label, row in groups.items():
        members = [r for r in doc["runs"] if r["label"] == label]
        assert row["n"] == 3 and sorted(r["seed"] for r in members) == [0, 1, 2]
        values = np.array([r["psnr"] for r in members])
        half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
        assert row["mean"] == pytest.approx(values.mean())
        assert row["sd"] == pytest.approx(values.std(ddof=1))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (values.mean() - half, values.mean() + half)
        )
    text = cli("compare", *runs).stdout
    assert "95% t-interval" in text and "encoder[0].filters=4" in text


def test_separate_runs_are_labelled_by_what_differs(tmp_path):
    from caegen.sweep.compare import compare

    strided = {"type": "conv2d", "filters": 16, "kernel_size": 3, "strides": 2}
    pooled = make_run(tmp_path, spec_of(0), scores(0))
    conv = make_run(tmp_path, _with_layer(spec_of(0), 1, strided), scores(1))
    wider = make_run(tmp_path, spec_of(0, filters=32), scores(2))
    result = compare([pooled, conv, wider])
    assert [g.label for g in result.groups] == [
        "encoder[0].filters=16, encoder[1]=max_pool2d",
        "encoder[0].filters=16, encoder[1]=conv2d",
        "encoder[0].filters=32, encoder[1]=max_pool2d",
    ]
    alone = compare([pooled])
    assert alone.groups[0].label == "quickstart"  # nothing differs: the spec's name


def _with_layer(spec: Spec, index: int, layer: dict) -> Spec:
    raw = spec.resolved()
    raw["encoder"][index] = layer
    return loads(yaml.safe_dump(raw))


def test_a_known_difference_is_better_and_identical_runs_are_not_distinguishable(tmp_path):
    better = [make_run(tmp_path, spec_of(s, filters=8), scores(s, shift=0.5)) for s in (0, 1, 2)]
    base = [make_run(tmp_path, spec_of(s, filters=4), scores(s + 10)) for s in (0, 1, 2)]
    doc = compare_json(*better, *base)
    (pair,) = doc["comparisons"]
    assert (pair["a_label"], pair["b_label"]) == ("encoder[0].filters=8", "encoder[0].filters=4")
    assert pair["verdict"] == "better" and pair["images"] == IMAGES
    assert 0 < pair["ci_low"] < 0.5 < pair["ci_high"]
    assert pair["p_wilcoxon"] < 0.01 and pair["repeats_a"] == pair["repeats_b"] == 3
    (ranking,) = doc["rankings"]
    assert ranking["best"] == doc["groups"][0]["group"] and "best G1" in ranking["summary"]
    (by_mse,) = compare_json(*better, *base, extra=("--metric", "mse"))["comparisons"]
    assert by_mse["metric"] == "mse" and by_mse["verdict"] == "better"  # lower MSE is better
    assert by_mse["ci_high"] < 0

    # the same per-image scores under two configurations: nothing to tell them apart
    twins = [make_run(tmp_path, spec_of(s, filters=32), scores(s + 10)) for s in (0, 1, 2)]
    doc = compare_json(*base, *twins)
    (pair,) = doc["comparisons"]
    assert pair["verdict"] == "not distinguishable" and pair["diff"] == pytest.approx(0.0)
    assert pair["ci_low"] <= 0 <= pair["ci_high"]
    (ranking,) = doc["rankings"]
    assert ranking["best"] is None and sorted(ranking["tied"]) == ["G1", "G2"]
    assert "tied at the top" in ranking["summary"]


def test_the_paired_interval_is_reproducible_and_the_baseline_narrows_the_pairs(tmp_path):
    runs = [
        make_run(tmp_path, spec_of(s, filters=f), scores(s + f, shift=shift))
        for f, shift in ((4, 0.0), (8, 0.3), (16, 0.6))
        for s in (0, 1)
    ]
    first, again = compare_json(*runs), compare_json(*runs)
    assert first["comparisons"] == again["comparisons"]  # a seeded bootstrap
    assert len(first["comparisons"]) == 3
    reseeded = compare_json(*runs, extra=("--seed", "7"))
    assert reseeded["comparisons"][0]["ci_low"] != first["comparisons"][0]["ci_low"]
    doc = compare_json(*runs, extra=("--baseline", str(runs[0])))
    assert doc["baseline"] == "G1"
    assert [(p["a"], p["b"]) for p in doc["comparisons"]] == [("G2", "G1"), ("G3", "G1")]
    assert compare_json(*runs, extra=("--baseline", "encoder[0].filters=8"))["baseline"] == "G2"
    bad = cli("compare", *runs, "--baseline", "filters=99")
    assert bad.returncode == 1 and "E081" in bad.stderr and "encoder[0].filters=8" in bad.stderr


def test_denoisers_are_ranked_by_their_gain_apart_from_plain_autoencoders(tmp_path):
    plain = [make_run(tmp_path, spec_of(s), scores(s, shift=4.0)) for s in (0, 1)]
    noisy = {0.3: scores(99, shift=-6.0), 1.0: scores(98, shift=-12.0)}
    denoisers = [
        make_run(
            tmp_path,
            spec_of(s, noise=std),
            noisy[std] + gain + np.random.default_rng(s).normal(0.0, 0.4, IMAGES),
            noisy_psnr=noisy[std],
        )
        for std, gain in ((0.3, 5.0), (1.0, 8.0))
        for s in (0, 1)
    ]
    doc = compare_json(*plain, *denoisers)
    assert [r["task"] for r in doc["rankings"]] == ["reconstruction", "denoising"]
    denoising = next(r for r in doc["rankings"] if r["task"] == "denoising")
    assert denoising["metric"] == "psnr_gain" and len(denoising["order"]) == 2
    gains = by_group(doc, "psnr_gain")
    assert set(gains) == {"noise=0.3", "noise=1"}
    assert gains["noise=1"]["mean"] == pytest.approx(8.0, abs=0.3)
    assert gains["noise=0.3"]["noise_std"] == 0.3
    assert denoising["best"] == gains["noise=1"]["group"]
    plain_group = doc["runs"][0]["group"]
    assert all(plain_group not in (p["a"], p["b"]) for p in doc["comparisons"])
    assert any("ranked separately" in n for n in doc["notes"])
    text = cli("compare", *plain, *denoisers).stdout
    assert "denoising (noise 0.3)" in text and "psnr_gain" in text


def test_runs_on_other_test_images_are_not_paired_and_subsets_pair_on_shared_images(tmp_path):
    whole = [make_run(tmp_path, spec_of(s, filters=8), scores(s, shift=1.0)) for s in (0, 1)]
    subset = [
        make_run(tmp_path, spec_of(s, filters=4, eval_limit=60), scores(s + 5)[:60], split=IMAGES)
        for s in (0, 1)
    ]
    doc = compare_json(*whole, *subset)
    (pair,) = doc["comparisons"]
    assert pair["images"] == 60 and "on the 60 test images every run scored" in pair["note"]
    text = cli("compare", *whole, *subset).stdout
    assert f"60 of {IMAGES}" in text  # a run scored on a subset says so in its row

    other = [make_run(tmp_path, spec_of(s, source="patches"), scores(s)) for s in (0, 1)]
    doc = compare_json(*whole, *other)
    assert doc["comparisons"] == [] and len(doc["rankings"]) == 2


def test_runs_without_per_image_scores_are_grouped_but_not_paired(tmp_path):
    runs = [make_run(tmp_path, spec_of(s, filters=f), scores(s)) for f in (4, 8) for s in (0, 1)]
    (runs[0] / "per_image.csv").unlink()
    doc = compare_json(*runs)
    (pair,) = doc["comparisons"]
    assert pair["verdict"] == "unavailable" and "no per_image.csv" in pair["note"]
    assert any("paired tests unavailable for 1 run(s), no per_image.csv" in n for n in doc["notes"])
    assert doc["rankings"][0]["best"] is None and doc["rankings"][0]["untested"]
    assert all(r["n"] == 2 for r in doc["groups"])


# --- faults: NaN, damaged runs, --out, sweep folders ---------------------------------------
def test_nan_metrics_give_strict_json_and_stay_off_the_front(tmp_path):
    good = make_run(tmp_path, spec_of(0, filters=8), scores(0))
    nan = make_run(tmp_path, spec_of(0, filters=4), scores(1), metrics={"psnr": float("nan")})
    assert "NaN" in (nan / "metrics.json").read_text()
    doc = compare_json(good, nan)
    rows = {r["label"]: r for r in doc["runs"]}
    assert rows["encoder[0].filters=4"]["psnr"] is None
    assert rows["encoder[0].filters=4"]["pareto"] is False  # 4 filters: fewer params, no score
    assert rows["encoder[0].filters=8"]["pareto"] is True
    csv_text = cli("compare", good, nan, "-f", "csv").stdout
    assert "nan" not in csv_text.lower()


def test_damaged_runs_are_skipped_and_listed(tmp_path):
    good = [make_run(tmp_path, spec_of(s), scores(s)) for s in (0, 1)]
    garbled = make_run(tmp_path, spec_of(2), scores(2))
    (garbled / "metrics.json").write_text("{not json")
    text_metric = make_run(tmp_path, spec_of(3), scores(3), metrics={"psnr": "high"})
    no_spec = make_run(tmp_path, spec_of(4), scores(4))
    (no_spec / "spec.yaml").unlink()
    bad_rows = make_run(tmp_path, spec_of(5), scores(5))
    (bad_rows / "per_image.csv").write_text("image,mse,psnr,ssim\n0,1,x,1\n")
    unfinished = Run.create(tmp_path, spec_of(6))
    unfinished.mark(INTERRUPTED, 1)
    unfinished.release()
    missing = tmp_path / "no-such-run"
    damaged = [garbled, text_metric, no_spec, unfinished.path, missing]
    doc = compare_json(*good, *damaged, bad_rows)
    assert len(doc["runs"]) == 3  # the two good runs and the one with damaged per-image rows
    skipped = {Path(s["path"]).name: s["reason"] for s in doc["skipped"]}
    assert set(skipped) == {p.name for p in damaged}
    assert "E059" in skipped[garbled.name] and "'high', not a number" in skipped[text_metric.name]
    assert "not finished" in skipped[unfinished.path.name]
    assert any("per_image.csv is damaged" in n for n in doc["notes"])
    text = cli("compare", *good, *damaged)
    assert text.returncode == 0 and f"skipped {garbled}" in text.stdout

    nothing = cli("compare", *damaged)
    assert nothing.returncode == 1 and "E052" in nothing.stderr
    assert "Traceback" not in nothing.stderr


def test_compare_never_writes_into_a_run(tmp_path):
    runs = [make_run(tmp_path, spec_of(s), scores(s)) for s in (0, 1)]
    before = {p: p.read_bytes() for p in runs[0].rglob("*") if p.is_file()}
    for out in (runs[0], runs[0] / "figures", runs[1] / "a" / "b"):
        result = cli("compare", *runs, "--out", out)
        assert result.returncode == 1 and "E080" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    after = {p: p.read_bytes() for p in runs[0].rglob("*") if p.is_file()}
    assert after == before and not (runs[1] / "a").exists()


def _sweep_with_runs(tmp_path: Path) -> Path:
    """A real sweep folder (sweep.json, study.db, leaderboard) whose trials are finished by
    run directories built on disk: two points x two repeats of a learning-rate sweep."""
    config = SweepConfig(
        spec_path=ROOT / "specs" / "quickstart.yaml",
        sets=["train.optimizer.learning_rate=0.001,0.01"],
        out=tmp_path / "sweeps",
        repeats=2,
    )
    sweep = open_sweep(config)
    sweep.enqueue_grid()
    for trial in sweep.store.trials():
        spec, _, _, _ = sweep.check_point(trial.point, trial.number)
        shift = 1.0 if trial.point["train.optimizer.learning_rate"] == 0.01 else 0.0
        path = make_run(sweep.runs, spec, scores(spec.train.seed % 1000, shift=shift))
        metrics = json.loads((path / "metrics.json").read_text())
        sweep.store.update(trial.number, state="finished", metrics=metrics, run_dir=str(path))
    sweep.write_reports()
    return sweep.folder


def test_sweep_points_label_the_groups_and_sweep_folders_are_never_runs(tmp_path):
    folder = _sweep_with_runs(tmp_path)
    for source in (folder, folder.parent):  # the sweep, or the folder of its sweeps
        doc = compare_json(source)
        assert set(by_group(doc)) == {
            "optimizer.learning_rate=0.001",
            "optimizer.learning_rate=0.01",
        }
        assert all(r["n"] == 2 for r in doc["groups"])
        assert sorted(r["repeat"] for r in doc["runs"]) == [0, 0, 1, 1]
    best = doc["rankings"][0]["best"]
    assert best == by_group(doc)["optimizer.learning_rate=0.01"]["group"]
    for wrong in (folder, folder.parent):
        with pytest.raises(CaegenError) as info:
            Run.find(wrong, purpose="export")
        assert "sweep" in info.value.diagnostics[0].message


def test_labels_on_the_quality_plot_do_not_overlap(tmp_path):
    from caegen.sweep.compare import compare
    from caegen.sweep.compare.figures import quality_figure

    # eight learning rates: the same size, nearly the same PSNR: eight points on one spot
    runs = [
        make_run(tmp_path, _with_lr(spec_of(0), lr), scores(0, shift=0.01 * i))
        for i, lr in enumerate((1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2))
    ]
    result = compare(runs)
    assert len({g.label for g in result.groups}) == 8
    fig = quality_figure(result)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == 8
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    legend = "\n".join(t.get_text() for t in fig.texts)
    assert all(f"{g.name}  {g.label}" in legend for g in result.groups)


def _with_lr(spec: Spec, lr: float) -> Spec:
    raw = spec.resolved()
    raw["train"]["optimizer"]["learning_rate"] = lr
    return loads(yaml.safe_dump(raw))


# --- per_image.csv -------------------------------------------------------------------------
def test_per_image_round_trip_and_damage(tmp_path):
    run = Run.create(tmp_path, spec_of())
    assert run.per_image() is None  # an older run
    run.write_per_image(
        {
            "image": [0, 1, 2],
            "mse": [0.1, 0.2, 0.3],
            "psnr": [10.0, 7.0, 5.2],
            "ssim": [0.5, None, 0.7],
        }
    )
    cols = run.per_image()
    assert cols["image"].tolist() == [0, 1, 2] and cols["psnr"].tolist() == [10.0, 7.0, 5.2]
    assert np.isnan(cols["ssim"][1])
    for text in (
        "image,mse,psnr\n0,1,1\n",  # no ssim column
        "image,mse,psnr,ssim\n0,1,1,1\n0,1,1,1\n",  # an image twice
        "image,mse,psnr,ssim\n-1,1,1,1\n",  # not an index
        "image,mse,psnr,ssim\n0,1,1\n",  # a short row
        "image,mse,psnr,ssim\n",  # no rows
    ):
        (run.path / "per_image.csv").write_text(text)
        with pytest.raises(CaegenError) as info:
            run.per_image()
        assert info.value.diagnostics[0].code == "E059"
    run.release()


def test_a_large_family_compares_each_group_with_the_first(tmp_path):
    runs = [
        make_run(tmp_path, spec_of(0, filters=2 + f), scores(f, shift=0.2 * f)) for f in range(11)
    ]
    doc = compare_json(*runs)
    first = doc["rankings"][0]["order"][0]
    assert len(doc["comparisons"]) == 10 and all(p["a"] == first for p in doc["comparisons"])
    assert all(p["verdict"] != "unavailable" for p in doc["comparisons"])
    assert any("each compared with the first" in n for n in doc["notes"])


# --- statistics a researcher can quote ------------------------------------------------------
def test_intervals_over_two_repeats_are_clipped_to_what_the_metric_can_take(tmp_path):
    from scipy import stats

    # two repeats far apart, near the top of SSIM's range: t(0.975, 1) = 12.7 overshoots it
    runs = [
        make_run(tmp_path, spec_of(s), scores(s, shift=15.0 + 3.0 * s), metrics={"auroc": auroc})
        for s, auroc in ((0, 0.99), (1, 0.8))
    ]
    doc = compare_json(*runs)
    rows = {r["metric"]: r for r in doc["groups"]}
    raw = {}
    for metric in rows:
        values = [r[metric] for r in doc["runs"]]
        half = stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
        raw[metric] = (np.mean(values) - half, np.mean(values) + half)
    assert (
        raw["ssim"][1] > 1
        and raw["mse"][0] < 0
        and raw["auroc"] == pytest.approx((-0.3, 2.1), abs=0.05)
    )
    assert (rows["ssim"]["ci_high"], rows["mse"]["ci_low"]) == (1.0, 0.0)
    assert (rows["auroc"]["ci_low"], rows["auroc"]["ci_high"]) == (0.0, 1.0)
    assert rows["ssim"]["ci_low"] == pytest.approx(raw["ssim"][0])  # the side within range
    assert all(rows[m]["ci_clipped"] for m in ("ssim", "mse", "auroc"))
    assert rows["psnr"]["ci_clipped"] is False  # PSNR has no bound a run cannot pass
    assert (rows["psnr"]["ci_low"], rows["psnr"]["ci_high"]) == pytest.approx(raw["psnr"])
    (note,) = [n for n in doc["notes"] if n.startswith("I113")]
    assert "G1 ssim, G1 mse, G1 auroc" in note and "ssim in [-1, 1]; mse >= 0" in note

    text = cli("compare", *runs).stdout
    groups_table = text.split("groups:")[1].split("\n\n")[0]  # the note sits under its table
    assert "I113 G1 ssim" in groups_table
    assert "1] clipped" in groups_table and "[0, " in groups_table
    assert "ci_clipped" in cli("compare", *runs, "-f", "csv", "--table", "groups").stdout


def test_a_p_value_that_disagrees_with_the_verdict_is_explained_under_the_table(tmp_path):
    from caegen.sweep.compare.stats import BETTER, TIED, p_disagrees

    # every image 0.5 dB apart on average, but the two seeds of G1 lie 4 dB apart: the images
    # agree (tiny p) while another seed might not (the interval over repeats includes 0)
    seeds_apart = [
        make_run(tmp_path, spec_of(s, filters=8), scores(s, shift=shift))
        for s, shift in ((0, -1.5), (1, 2.5))
    ]
    steady = [make_run(tmp_path, spec_of(s, filters=4), scores(s + 10)) for s in (0, 1)]
    clearly = [make_run(tmp_path, spec_of(s, filters=16), scores(s, shift=9)) for s in (0, 1)]
    doc = compare_json(*seeds_apart, *steady, *clearly)
    pairs = {(p["a_label"], p["b_label"]): p for p in doc["comparisons"]}
    odd = pairs["encoder[0].filters=8", "encoder[0].filters=4"]
    assert odd["verdict"] == "not distinguishable" and odd["p_wilcoxon"] < 1e-6
    assert odd["p_disagrees"] is True
    assert [p["p_disagrees"] for p in doc["comparisons"]].count(True) == 1  # the better ones agree
    (note,) = [n for n in doc["notes"] if n.startswith("verdicts follow")]
    g8, g4 = odd["a"], odd["b"]
    assert f"{g8} vs {g4} not distinguishable, Wilcoxon p = " in note and "seeds" in note

    text = cli("compare", *seeds_apart, *steady, *clearly).stdout
    pairs_table = text.split("paired comparisons")[1].split("\n\n")[0]
    assert "not distinguishable (p disagrees: see note)" in pairs_table
    assert "note: verdicts follow the 95% bootstrap interval" in pairs_table
    clean = cli("compare", *steady, *clearly).stdout  # nothing to explain: no note
    assert "p disagrees" not in clean and "verdicts follow" not in clean

    assert p_disagrees(BETTER, 0.2, 0.07) and not p_disagrees(BETTER, 0.2, 0.01)
    assert p_disagrees(TIED, 0.3, 0.01) and not p_disagrees(TIED, 0.3, None)


def test_copies_and_runs_reached_twice_count_once(tmp_path):
    import shutil

    runs = [make_run(tmp_path / "runs", spec_of(s), scores(s)) for s in (0, 1)]
    copy = tmp_path / "copy"
    shutil.copytree(runs[1], copy)  # cp -r: the same spec, seed and per-image scores
    link = tmp_path / "link"
    link.symlink_to(runs[0], target_is_directory=True)
    rerun = make_run(tmp_path / "runs", spec_of(1), scores(1, shift=0.1))  # seed 1, new scores
    doc = compare_json(*runs, copy, link, runs[0], rerun)
    (group,) = by_group(doc).values()
    assert group["n"] == 3 and len(doc["runs"]) == 3  # the two runs and the rerun
    skipped = {s["path"]: s["reason"] for s in doc["skipped"]}
    assert set(skipped) == {str(copy), str(link), str(runs[0])}  # runs[0] is named again
    assert skipped[str(copy)].startswith(f"W114 a copy of {runs[1]} (the same spec, seed 1")
    for again in (link, runs[0]):
        assert (
            skipped[str(again)] == f"W114 the same run as {runs[0]} (reached twice): counted once"
        )
    text = cli("compare", *runs, copy)
    assert text.returncode == 0 and f"skipped {copy}: W114 a copy of" in text.stdout

    # --baseline names the copy: it stands for the run it copies, and is never a skipped run
    doc = compare_json(
        *runs, make_run(tmp_path, spec_of(0, filters=8), scores(5)), extra=("--baseline", str(copy))
    )
    assert doc["baseline"] == "G1" and doc["skipped"] == []

    # runs from before per_image.csv: a copy is known by its identical test metrics
    old = make_run(tmp_path / "old", spec_of(3), scores(3))
    (old / "per_image.csv").unlink()
    shutil.copytree(old, tmp_path / "old-copy")
    doc = compare_json(old, tmp_path / "old-copy")
    assert len(doc["runs"]) == 1
    assert "seed 3 and test metrics" in doc["skipped"][0]["reason"]


def test_a_verdict_on_a_group_of_one_run_says_what_it_cannot_see(tmp_path):
    """One run a group: the bootstrap resamples its images only, so a confident "better"
    says nothing of what another seed would do; the note says so, once repeats exist not."""
    one_a = make_run(tmp_path, spec_of(0, filters=8), scores(0, shift=3))
    one_b = make_run(tmp_path, spec_of(0, filters=4), scores(1))
    doc = compare_json(one_a, one_b)
    assert doc["comparisons"][0]["verdict"] in ("better", "worse")
    (note,) = [n for n in doc["notes"] if n.startswith("one run each in")]
    assert "G1, G2" in note and "--repeats 3" in note
    text = cli("compare", one_a, one_b).stdout
    assert "note: one run each in G1, G2" in text.split("paired comparisons")[1]
    repeated = [
        make_run(tmp_path, spec_of(s, filters=f), scores(s, shift=3 if f == 8 else 0))
        for f in (8, 4)
        for s in (10, 11, 12)
    ]
    assert not [n for n in compare_json(*repeated)["notes"] if n.startswith("one run")]
