"""`caegen score` end to end: a real run trained on the textures data, scored for real."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("keras")

import caegen  # noqa: E402
from caegen.cli import app  # noqa: E402
from caegen.core.diagnostics import CaegenError  # noqa: E402
from caegen.score.runner import ScoreOptions, score  # noqa: E402
from caegen.training.rundir import Run  # noqa: E402

runner = CliRunner()
SPEC = """name: tex
input: [32, 32, 1]
encoder:
  - {type: conv2d, filters: 16, kernel_size: 3, strides: 2, activation: relu}
  - {type: conv2d, filters: 8, kernel_size: 3, strides: 2, activation: relu}
decoder:
  - {type: conv2d_transpose, filters: 16, kernel_size: 3, strides: 2, activation: relu}
  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2, activation: sigmoid}
data: {source: textures}
train: {batch_size: 32, epochs: 2, seed: 0}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return caegen.train(caegen.loads(SPEC), out=out).run_dir


@pytest.fixture(scope="module")
def scored(run_dir):
    return score(run_dir)


def test_score_writes_scores_maps_and_the_threshold(run_dir, scored):
    out = run_dir / "score-mse"
    assert scored.out == out
    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 217 and {r["kind"] for r in rows} == {"good", "scratch", "blob", "cutpaste"}
    assert all((r["kind"] != "good") == (r["anomalous"] == "1") for r in rows)
    maps = np.load(out / "anomaly_maps.npy")
    assert maps.shape == (217, 32, 32) and maps.dtype == np.float32
    # the mse score of an image is the mean of its map
    np.testing.assert_allclose([float(r["score"]) for r in rows], maps.mean(axis=(1, 2)), rtol=1e-5)
    report = json.loads((out / "score.json").read_text())
    metrics = report["metrics"]
    assert metrics["anomalous_images"] == 108 and metrics["normal_images"] == 109
    for name in ("image_auroc", "image_auprc", "image_f1_max", "pixel_auroc", "aupro"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["image_auroc"] > 0.5  # a blob or a pasted patch reconstructs worse
    threshold = report["threshold"]
    assert threshold["samples"] == 93 and threshold["quantile"] == 0.99
    assert report["calibration"].startswith("93 held-out normal")
    recorded = Run(run_dir).scorer()
    assert recorded["threshold"] == threshold and recorded["score"] == "mse"
    assert {r["kind"] for r in scored.per_kind} == {"good", "scratch", "blob", "cutpaste"}


def test_figures_are_real_images(run_dir, scored):
    out = run_dir / "score-mse"
    assert [p.name for p in scored.written] == [
        "scores.csv",
        "anomaly_maps.npy",
        "overlays.png",
        "roc.png",
        "histogram.png",
        "score.json",
    ]
    sizes = {}
    for name in ("overlays.png", "roc.png", "histogram.png"):
        Image.open(out / name).verify()
        sizes[name] = Image.open(out / name).size
    assert sizes["overlays.png"][0] > 900 and sizes["overlays.png"][1] > 500  # 8 x 4 panels
    assert min(sizes["roc.png"]) > 300 and min(sizes["histogram.png"]) > 300
    # the grid shows anomalies, normal images, and the masks
    overlay = np.asarray(Image.open(out / "overlays.png").convert("RGB"), dtype=np.float32)
    assert overlay.std() > 20


def test_auroc_reaches_tensorboard(run_dir, scored):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    tags = events.Tags()["tensors"] + events.Tags()["scalars"]
    assert "test/mse_image_auroc" in tags


def test_the_threshold_never_reads_the_images_scored(run_dir, scored, tmp_path):
    rng = np.random.default_rng(0)
    extreme = np.concatenate([np.ones((20, 32, 32, 1)), rng.uniform(0, 1, (20, 32, 32, 1))]).astype(
        np.float32
    )
    np.save(tmp_path / "extreme.npy", extreme)
    again = score(run_dir, [tmp_path / "extreme.npy"], out=tmp_path / "extreme")
    assert again.threshold == scored.threshold  # unchanged by 40 extreme anomalies
    assert again.flagged.all() and not again.metrics  # no labels: no metrics
    assert [p.name for p in again.written][2:4] == ["overlays.png", "histogram.png"]


def test_cli_json_and_ssim_scores(run_dir, tmp_path):
    result = runner.invoke(
        app, ["score", str(run_dir), "--score", "ssim", "--out", str(tmp_path), "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["score"] == "ssim" and report["scored_images"] == 217
    assert 0.0 <= report["metrics"]["aupro"] <= 1.0
    maps = np.load(tmp_path / "anomaly_maps.npy")
    assert maps.min() >= -1e-6 and maps.max() <= 2.0  # 1 - SSIM


def test_text_report(scored):
    from caegen.cli.score import report_lines

    text = "\n".join(report_lines(scored))
    assert "the 0.99 quantile of the scores of 93 held-out normal" in text
    assert "image      AUROC" in text and "AUPRO (FPR <= 0.3)" in text
    assert "scratch" in text and "AUROC vs normal" in text


def _code(args):
    result = runner.invoke(app, ["score", *map(str, args)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


def test_an_unfinished_run_is_refused(run_dir, tmp_path):
    copy = tmp_path / "tex" / "20990101-000000"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    Run(copy).mark("interrupted", 1, "Ctrl-C")
    assert "E052" in _code([copy]) and "not finished" in _code([copy])


def test_images_of_another_shape_or_channel_count_are_refused(run_dir, tmp_path):
    np.save(tmp_path / "small.npy", np.zeros((3, 16, 16, 1), np.float32))
    output = _code([run_dir, tmp_path / "small.npy", "--out", tmp_path / "o"])
    assert "E096" in output and "the model takes 32x32x1 images" in output
    Image.new("RGB", (32, 32), (10, 200, 30)).save(tmp_path / "color.png")
    output = _code([run_dir, tmp_path / "color.png", "--out", tmp_path / "o"])
    assert "E096" in output and "is 32x32x3" in output
    fitted = score(
        run_dir, [tmp_path / "color.png"], options=ScoreOptions(fit=True), out=tmp_path / "f"
    )
    assert len(fitted.scores) == 1


def test_an_empty_folder_is_refused(run_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    output = _code([run_dir, tmp_path / "empty", "--out", tmp_path / "o"])
    assert "E096" in output and "no images found" in output


def test_masks_that_do_not_match_the_images_are_refused(run_dir, tmp_path):
    folder = tmp_path / "test"
    for kind in ("good", "crack"):
        (folder / kind).mkdir(parents=True)
        Image.new("L", (32, 32), 90).save(folder / kind / "000.png")
    masks = tmp_path / "ground_truth"
    (masks / "crack").mkdir(parents=True)
    Image.new("L", (32, 32), 255).save(masks / "crack" / "000_mask.png")
    Image.new("L", (32, 32), 255).save(masks / "crack" / "001_mask.png")  # no image
    output = _code([run_dir, folder, "--masks", masks, "--out", tmp_path / "o"])
    assert "E096" in output and "belong to no test image" in output
    (masks / "crack" / "001_mask.png").unlink()
    Image.new("L", (16, 16), 255).save(masks / "crack" / "000_mask.png")  # another size
    output = _code([run_dir, folder, "--masks", masks, "--out", tmp_path / "o"])
    assert "E096" in output and "is 16x16 but its image" in output


def test_existing_scores_are_not_replaced_silently(run_dir, scored):
    with pytest.raises(CaegenError) as info:
        score(run_dir)
    assert info.value.diagnostics[0].code == "E050"
    assert score(run_dir, force=True).threshold == scored.threshold  # deterministic


@pytest.mark.parametrize("kind, smooth", [("mse", None), ("ssim", 1.0)])
def test_scorer_onnx_matches_and_carries_the_threshold(run_dir, tmp_path, kind, smooth):
    import onnx
    import onnxruntime as ort

    from caegen.export.onnx_export import export_onnx
    from caegen.training.data import load_data

    done = score(run_dir, options=ScoreOptions(kind=kind, smooth=smooth), out=tmp_path / "s")
    result = export_onnx(run_dir, tmp_path / "scorer.onnx", part="scorer", tolerance=1e-5)
    assert result.max_abs_diff <= 1e-5 and result.samples == 217
    model = onnx.load(tmp_path / "scorer.onnx")
    meta = {p.key: p.value for p in model.metadata_props}
    assert float(meta["threshold"]) == done.threshold.value and meta["score"] == kind
    assert json.loads(meta["score_normalization"])["center"] == done.center
    session = ort.InferenceSession(str(tmp_path / "scorer.onnx"))
    test = load_data(caegen.loads(SPEC)).test.array
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": test})))
    assert outputs["anomaly_map"].shape == (217, 32, 32) and outputs["score"].shape == (217,)
    # flagged by the exported file exactly as by `caegen score`
    flagged = outputs["score"] > float(meta["threshold"])
    assert (flagged == done.flagged).mean() >= 0.99
    np.testing.assert_allclose(outputs["score"], done.scores, atol=1e-4)


def test_scorer_export_needs_a_scored_run(run_dir, tmp_path):
    from caegen.export.onnx_export import export_onnx

    copy = tmp_path / "tex" / "20990101-000000"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock", "scorer.json"))
    with pytest.raises(CaegenError) as info:
        export_onnx(copy, tmp_path / "s.onnx", part="scorer")
    assert info.value.diagnostics[0].code == "E052" and "not been scored" in str(info.value)
    spec = tmp_path / "tex.yaml"
    spec.write_text(SPEC)
    with pytest.raises(CaegenError) as info:
        export_onnx(spec, tmp_path / "s.onnx", part="scorer")
    assert info.value.diagnostics[0].code == "E056"


def test_scoring_another_way_says_it_replaces_the_recorded_scorer(run_dir, tmp_path):
    """The run records one scorer (what `export --part scorer` exports): a second kind of
    score replaces it, and says so; the same scoring again replaces nothing."""
    from caegen.cli.score import report_lines
    from caegen.score.runner import ScoreOptions

    copy = tmp_path / "tex" / "20990101-000000"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock", "scorer.json"))
    first = score(copy, options=ScoreOptions(kind="mse"), out=tmp_path / "a")
    assert first.replaced is None
    second = score(copy, options=ScoreOptions(kind="ssim"), out=tmp_path / "b")
    assert second.replaced is not None and second.replaced["score"] == "mse"
    assert second.to_dict()["replaced_scorer"]["score"] == "mse"
    assert any(line.startswith("recorded   this scorer replaces") for line in report_lines(second))
    again = score(copy, options=ScoreOptions(kind="ssim"), out=tmp_path / "b", force=True)
    assert (
        again.replaced is None and json.loads((copy / "scorer.json").read_text())["score"] == "ssim"
    )
