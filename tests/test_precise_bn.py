"""Precise batch norm: before the final evaluation every batch-norm layer's moving mean and
variance are its inputs' population statistics over the training images, layer by layer in
graph order; the saved models carry them and the reported metrics use them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import caegen
from caegen.compile.compiler import check
from caegen.training.batchnorm import Stage, batch_norm_depths, kept_bytes, plan_stages

BN_SPEC = """name: bn
input: [16, 16, 1]
encoder:
  - {type: conv2d, filters: 8, kernel_size: 3}
  - {type: batch_norm}
  - {type: activation, activation: relu}
  - {type: conv2d, filters: 8, kernel_size: 3, strides: 2}
  - {type: batch_norm}
  - {type: activation, activation: relu}
decoder:
  - {type: conv2d_transpose, filters: 8, kernel_size: 3, strides: 2}
  - {type: batch_norm}
  - {type: activation, activation: relu}
  - {type: conv2d, filters: 1, kernel_size: 3, activation: sigmoid}
data: {source: digits, noise: {stddev: 0.2}}
train:
  batch_size: 32
  loss: bce
  # min_delta 10: epoch 1 is the best, epoch 2 stops the run and epoch 1 is restored
  early_stopping: {patience: 1, min_delta: 10.0}
"""
LIMIT = 384

# a skip over a batch-norm layer and two batch-norm layers reading one tensor
BRANCHY = """name: branchy
input: [16, 16, 1]
encoder:
  - {type: conv2d, filters: 4, kernel_size: 3, name: c1}
  - {type: batch_norm, name: bn1}
  - {type: conv2d, filters: 4, kernel_size: 3, strides: 2, name: c2}
  - {type: batch_norm, name: bn2}
decoder:
  - {type: upsampling2d, size: 2, name: up}
  - {type: concatenate, inputs: [up, c1], name: cat}
  - {type: batch_norm, name: bn3}
  - {type: batch_norm, name: bn4, inputs: cat}
  - {type: add, inputs: [bn3, bn4], name: sum}
  - {type: conv2d, filters: 1, kernel_size: 3, name: out}
"""


def graph_of(text: str):
    return check(caegen.loads(text)).graph


def test_stages_follow_batch_norm_depth_and_run_each_layer_once():
    graph = graph_of(BRANCHY)
    depth = batch_norm_depths(graph)
    assert [depth[n] for n in ("c1", "bn1", "c2", "bn2", "cat", "bn3", "bn4", "sum")] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        3,
    ]
    assert plan_stages(graph) == [
        Stage(("input",), ("c1",), ("bn1",), ("c1",)),
        Stage(("c1",), ("bn1", "c2"), ("bn2",), ("c1", "c2")),
        Stage(("c1", "c2"), ("bn2", "up", "cat"), ("bn3", "bn4")),
    ]
    # without kept tensors each stage starts from the input and runs what it needs
    assert [s.runs for s in plan_stages(graph, keep=False)] == [
        ("c1",),
        ("c1", "bn1", "c2"),
        ("c1", "bn1", "c2", "bn2", "up", "cat"),
    ]
    # the most held at once: stage 3 reads c1 and c2 (16x16x4 + 8x8x4 floats per image)
    assert kept_bytes(graph, plan_stages(graph), 10) == (16 * 16 * 4 + 8 * 8 * 4) * 10 * 4


def test_a_model_without_batch_norm_has_no_stage():
    assert plan_stages(graph_of(BRANCHY.replace("batch_norm", "layer_norm"))) == []


# --- a trained run ----------------------------------------------------------------------------
def training_inputs(spec) -> np.ndarray:
    """The training images as the recalibration pass sees them (noisy for a denoiser)."""
    from caegen.training.batchnorm import NOISE_SEED_OFFSET
    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays

    train = load_data(spec).train
    return evaluation_arrays(train, spec, seed=spec.train.seed + NOISE_SEED_OFFSET)[0]


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory):
    pytest.importorskip("keras")
    spec = caegen.loads(BN_SPEC)
    return caegen.train(spec, epochs=3, limit=LIMIT, out=tmp_path_factory.mktemp("runs"))


def load(path):
    import keras

    return keras.saving.load_model(path, safe_mode=True)


@pytest.mark.keras
@pytest.mark.slow
def test_saved_statistics_are_the_population_statistics_of_the_restored_model(bn_run):
    from tests.batchnorm_reference import assert_settled, population_statistics

    run = bn_run.run_dir
    assert len(bn_run.history) == 2  # early stopping ended it after epoch 2 ...
    model, epoch1 = load(run / "model.keras"), load(run / "checkpoints" / "previous.keras")
    for mine, best in zip(model.trainable_weights, epoch1.trainable_weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), best.numpy())  # ... and restored epoch 1
    spec = caegen.load(run / "spec.yaml")
    images = training_inputs(spec)
    assert len(images) == LIMIT
    assert assert_settled(model, images) == 3
    # the encoder and decoder files carry the same statistics
    encoder, decoder = load(run / "encoder.keras"), load(run / "decoder.keras")
    for part in (encoder, decoder):
        for layer in part.layers:
            if hasattr(layer, "moving_mean"):
                np.testing.assert_array_equal(
                    layer.moving_mean.numpy(), model.get_layer(layer.name).moving_mean.numpy()
                )
    # the training checkpoints keep training's moving averages (a resumed run continues
    # from what it trained), so they differ from the settled statistics
    settled = population_statistics(model, images)
    first = epoch1.get_layer("encoder.1").moving_mean.numpy()
    assert not np.allclose(first, settled["encoder.1"][0], atol=1e-3)


@pytest.mark.keras
@pytest.mark.slow
def test_reported_metrics_are_scored_with_the_settled_statistics(bn_run):
    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays
    from caegen.training.rundir import Run

    run = Run(bn_run.run_dir)
    metrics = json.loads((run.path / "metrics.json").read_text())
    record = metrics["batch_norm_recalibration"]
    assert record["setting"] == "auto" and record["applied"] and record["reported"] == "after"
    assert record["layers"] == 3 and record["stages"] == 3 and record["train_images"] == LIMIT
    assert metrics["psnr"] == record["after"]["psnr"] != record["before"]["psnr"]
    from caegen.cli.commands import _metrics_line

    before = record["before"]["psnr"]
    assert f"batch norm settled (moving averages: {before:.2f} dB)" in _metrics_line(metrics)
    spec = run.spec
    noisy, clean = evaluation_arrays(load_data(spec).test, spec, seed=spec.train.seed + 1)
    clean = clean.astype(np.float64)
    recon = load(run.path / "model.keras").predict(noisy, verbose=0).astype(np.float64)
    psnr = 10 * np.log10(1.0 / np.mean((clean - recon) ** 2, axis=(1, 2, 3)))
    columns = run.per_image()
    np.testing.assert_allclose(columns["psnr"], psnr, rtol=1e-5)
    assert metrics["psnr"] == pytest.approx(float(np.mean(psnr)), rel=1e-6)
    noisy_psnr = 10 * np.log10(1.0 / np.mean((clean - noisy) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(columns["noisy_psnr"], noisy_psnr, rtol=1e-9)


@pytest.mark.keras
@pytest.mark.slow
def test_a_resumed_run_settles_its_statistics_again(bn_run, tmp_path):
    from tests.batchnorm_reference import assert_settled

    run = tmp_path / "run"
    shutil.copytree(bn_run.run_dir, run)
    result = caegen.train(resume=run, epochs=3)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.metrics["batch_norm_recalibration"]["applied"]
    model = load(run / "model.keras")
    assert assert_settled(model, training_inputs(caegen.load(run / "spec.yaml"))) == 3
    # train_seconds: every epoch of the run, those before the resume included
    first = json.loads((bn_run.run_dir / "metrics.json").read_text())["train_seconds"]
    assert result.metrics["train_seconds"] == pytest.approx(
        first + result.history[2]["seconds"], abs=0.011
    )


@pytest.mark.keras
@pytest.mark.slow
def test_recalibration_off_keeps_the_moving_averages(tmp_path):
    pytest.importorskip("keras")
    text = BN_SPEC.replace("loss: bce", "loss: bce\n  batch_norm_recalibration: off")
    text = text.replace("  early_stopping: {patience: 1, min_delta: 10.0}\n", "")
    result = caegen.train(caegen.loads(text), epochs=1, limit=128, out=tmp_path)
    record = result.metrics["batch_norm_recalibration"]
    assert record == {"setting": "off", "layers": 3, "applied": False}
    model, last = (load(result.run_dir / p) for p in ("model.keras", "checkpoints/last.keras"))
    for mine, trained in zip(model.non_trainable_weights, last.non_trainable_weights):
        np.testing.assert_array_equal(mine.numpy(), trained.numpy())


@pytest.mark.keras
@pytest.mark.slow
def test_the_exported_onnx_encoder_carries_the_settled_statistics(bn_run, tmp_path):
    pytest.importorskip("tf2onnx")
    import onnxruntime as ort

    run = bn_run.run_dir
    result = caegen.export_onnx(run, tmp_path / "encoder.onnx", part="encoder")
    images = training_inputs(caegen.load(run / "spec.yaml"))[:64]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: images})
    settled = load(run / "encoder.keras").predict(images, verbose=0)
    np.testing.assert_allclose(onnx_out, settled, atol=1e-4)
    # the same weights with training's moving averages (the epoch-1 checkpoint) differ
    import keras

    trained = load(run / "checkpoints" / "previous.keras")
    moving = keras.Model(trained.inputs, trained.get_layer("encoder.5").output)
    assert np.abs(moving.predict(images, verbose=0) - onnx_out).max() > 1e-2
