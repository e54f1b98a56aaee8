"""What a run is scored on: the whole test split unless `eval_limit` says otherwise
(`limit` limits the train split only), and each scored image's metrics in per_image.csv."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import caegen
from caegen.training.data import load_data
from tests.conftest import SPECS

DIGITS_TEST_SPLIT = 359


def quickstart(**data: int) -> caegen.Spec:
    text = (SPECS / "quickstart.yaml").read_text()
    extra = "".join(f"\n  {key}: {value}" for key, value in data.items())
    return caegen.loads(text.replace("range: unit", "range: unit" + extra))


def test_limit_cuts_the_train_split_and_eval_limit_the_test_split():
    splits = load_data(quickstart(limit=200))
    assert len(splits.train) == 200
    assert len(splits.test) == DIGITS_TEST_SPLIT == splits.test_split_images
    splits = load_data(quickstart(limit=200, eval_limit=100))
    assert len(splits.train) == 200 and len(splits.test) == 100
    assert splits.test_split_images == DIGITS_TEST_SPLIT


def test_the_train_command_says_when_a_run_is_scored_on_a_subset():
    from caegen.cli.commands import _metrics_line

    metrics = {"psnr": 20.0, "baseline_mean_image_psnr": 10.0, "ssim": 0.9}
    whole = _metrics_line({**metrics, "test_images": 359, "test_split_images": 359})
    assert whole.endswith("on 359 test images")
    subset = _metrics_line({**metrics, "test_images": 100, "test_split_images": 359})
    assert subset.endswith("on 100 test images of 359 (--eval-limit)")


@pytest.mark.keras
@pytest.mark.slow
def test_limit_200_on_digits_scores_all_359_test_images(tmp_path):
    pytest.importorskip("keras")
    from caegen.training.trainer import dry_run

    plan = dry_run(quickstart(), limit=200, eval_limit=100)
    assert (plan["test_images"], plan["test_split_images"]) == (100, DIGITS_TEST_SPLIT)
    result = caegen.train(quickstart(), epochs=1, batch_size=32, limit=200, out=tmp_path)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["train_images"] == 200
    assert metrics["test_images"] == DIGITS_TEST_SPLIT == metrics["test_split_images"]
    assert metrics["batch_norm_recalibration"] == {"setting": "auto", "layers": 0, "applied": False}
    with (result.run_dir / "per_image.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "mse", "psnr", "ssim"]
    table = np.array(rows[1:], dtype=np.float64)
    np.testing.assert_array_equal(table[:, 0], np.arange(DIGITS_TEST_SPLIT))
    for column, name in enumerate(("mse", "psnr", "ssim"), start=1):
        assert float(np.mean(table[:, column])) == pytest.approx(metrics[name], rel=1e-12)
    # each row is that test image's score: MSE recomputed from the saved model
    import keras

    model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
    test = load_data(quickstart()).test.array.astype(np.float64)
    mse = np.mean((test - model.predict(test, verbose=0)) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(table[:, 1], mse, rtol=1e-5)
