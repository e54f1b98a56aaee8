"""`loss: ssim`: Bergmann's settings through TensorFlow's SSIM, checked statically, trained
and resumed for real."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("keras")

import caegen  # noqa: E402
from caegen.training.data import load_data  # noqa: E402
from caegen.training.losses import SSIMLoss, ssim_error  # noqa: E402

SPEC = """name: ssim-textures
input: [32, 32, {c}]
encoder:
  - {{type: conv2d, filters: 8, kernel_size: 3, strides: 2, activation: relu}}
  - {{type: conv2d, filters: 4, kernel_size: 3, strides: 2, activation: relu}}
decoder:
  - {{type: conv2d_transpose, filters: 8, kernel_size: 3, strides: 2, activation: relu}}
  - {{type: conv2d_transpose, filters: {c}, kernel_size: 3, strides: 2, activation: sigmoid}}
data: {{source: textures, range: {range}}}
train: {{loss: ssim, batch_size: 32, seed: 0}}
"""


def textures(channels: int = 1, data_range: str = "unit"):
    return caegen.loads(SPEC.format(c=channels, range=data_range))


@pytest.mark.parametrize("channels, data_range", [(1, "unit"), (3, "unit"), (1, "symmetric")])
def test_ssim_loss_is_skimage_ssim_with_bergmanns_window(channels, data_range):
    from skimage.metrics import structural_similarity

    test = load_data(textures(channels)).test.array[:6]
    width = 2.0 if data_range == "symmetric" else 1.0
    clean = test * width - (width - 1.0)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 0.1 * width, clean.shape), clean.min(), clean.max())
    got = np.asarray(ssim_error(clean, noisy.astype(np.float32), width))
    expected = [
        1.0
        - structural_similarity(
            a.astype(np.float64),
            b,
            data_range=width,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            K1=0.01,
            K2=0.03,
        )
        for a, b in zip(clean, noisy)
    ]
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert (got > 0.05).all()  # the noise is seen
    np.testing.assert_allclose(np.asarray(ssim_error(clean, clean, width)), 0.0, atol=1e-5)


def test_tensorflow_refuses_images_smaller_than_the_window_as_check_does():
    import tensorflow as tf

    small = np.zeros((1, 10, 10, 1), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        ssim_error(small, small)
    report = caegen.check(caegen.loads(SPEC.format(c=1, range="unit").replace("32, 32", "8, 8")))
    assert [d.code for d in report.errors] == ["E095"]
    assert report.errors[0].location.path == "train.loss"
    assert caegen.check(textures()).ok


def test_ssim_run_trains_and_resumes(tmp_path):
    first = caegen.train(textures(), epochs=1, limit=96, out=tmp_path)
    metrics = json.loads((first.run_dir / "metrics.json").read_text())
    assert np.isfinite(first.history[0]["loss"]) and 0 < first.history[0]["loss"] < 1
    # the per-pixel error recorded is the SSIM loss itself (no penalty here)
    assert first.history[0]["reconstruction_error"] == pytest.approx(first.history[0]["loss"])
    assert metrics["ssim"] is not None
    resumed = caegen.train(resume=first.run_dir, epochs=2)  # loads the compiled SSIM loss
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert resumed.history[1]["loss"] < resumed.history[0]["loss"]
    from caegen.training.rundir import Run

    model = Run(first.run_dir).load_model("autoencoder")
    assert isinstance(model.loss, SSIMLoss) and model.loss.max_val == 1.0
