"""Variational autoencoders: the sampling layer checked statically and against Keras, the
KL term in training, the ELBO, deterministic encoders, exact resume."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import caegen
from caegen.core.diagnostics import CaegenError
from tests.conftest import SPECS

CVAE = (SPECS / "mnist_cvae.yaml").read_text()


def codes(text: str) -> set[str]:
    try:
        return {d.code for d in caegen.check(caegen.loads(text)).errors}
    except CaegenError as exc:
        return {d.code for d in exc.diagnostics}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            (
                "{type: dense, name: z_log_var, units: 2,",
                "{type: dense, name: z_log_var, units: 3,",
            ),
            "E030",
        ),
        (("inputs: [z_mean, z_log_var]}", "inputs: [z_mean]}"), "E025"),
        (
            (
                "  - {type: sampling, name: z, inputs: [z_mean, z_log_var]}\n",
                "  - {type: sampling, name: z, inputs: [z_mean, z_log_var]}\n"
                "  - {type: dense, units: 2}\n",
            ),
            "E042",
        ),
    ],
    ids=["mismatched-inputs", "one-input", "not-the-latent"],
)
def test_sampling_mistakes_are_coded_errors(change, code):
    assert code in codes(CVAE.replace(*change))


def test_two_sampling_layers_are_refused():
    text = CVAE.replace(
        "  - {type: sampling, name: z, inputs: [z_mean, z_log_var]}\n",
        "  - {type: sampling, name: z0, inputs: [z_mean, z_log_var]}\n"
        "  - {type: sampling, name: z, inputs: [z_mean, z_log_var]}\n",
    )
    assert "E042" in codes(text)


def test_both_inputs_are_live_and_the_sample_is_the_latent():
    report = caegen.check(caegen.loads(CVAE))
    assert report.ok and report.graph.latent == "z"
    assert report.graph.node("z_mean").live and report.graph.node("z_log_var").live
    assert report.latent_shape == (2,)


def test_the_layer_table_names_the_mean_and_log_variance():
    from caegen.cli.render import layer_table

    rows = layer_table(caegen.check(caegen.loads(CVAE))).plain.splitlines()
    (row,) = [r for r in rows if " sampling " in r]
    assert "z_mean (mean), z_log_var (log-var)" in row


def test_the_mean_and_log_variance_heads_are_not_reported_as_dense_bottlenecks():
    found = [d for d in caegen.check(caegen.loads(CVAE)).diagnostics if d.code == "I107"]
    # only the decoder's dense layer (z -> 7x7x32) counts, not the two heads
    assert len(found) == 1 and "1 dense layer(s)" in found[0].message
    assert "z_mean" not in found[0].message and "z_log_var" not in found[0].message


@pytest.mark.keras
def test_the_tensorflow_tutorial_cvae_has_the_params_of_the_hand_written_model():
    import keras
    from keras import layers

    from caegen.emit.keras_model import build, compare_with_keras

    encoder = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, strides=2, activation="relu"),
            layers.Conv2D(64, 3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(2 + 2),  # mean and log-variance in one layer, as the tutorial has it
        ]
    )
    decoder = keras.Sequential(
        [
            keras.Input((2,)),
            layers.Dense(7 * 7 * 32, activation="relu"),
            layers.Reshape((7, 7, 32)),
            layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(1, 3, strides=1, padding="same"),
        ]
    )
    report = caegen.check(caegen.loads(CVAE))
    assert report.params.trainable == encoder.count_params() + decoder.count_params()
    assert report.params.non_trainable == 1  # the KL weight, kept in checkpoints
    built = build(report.spec, report=report)
    assert all(a.agrees for a in compare_with_keras(built))
    assert built.autoencoder.count_params() == report.params.total


@pytest.mark.keras
@pytest.mark.parametrize("latent", ["vector", "feature-map"])
def test_static_shapes_and_params_equal_keras(latent):
    from caegen.emit.keras_model import build, compare_with_keras

    text = (SPECS / "patches_vae.yaml").read_text() if latent == "feature-map" else CVAE
    built = build(caegen.loads(text))
    assert all(a.agrees for a in compare_with_keras(built))


class CtrlCAfterEpoch1:
    def start(self, info): ...
    def batch(self, epoch, step, steps, loss): ...
    def warn(self, message): ...

    def epoch(self, row, epochs, eta_s):
        if row["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)


@pytest.fixture(scope="module")
def digits_vae(tmp_path_factory):
    spec = caegen.load(SPECS / "digits_cvae.yaml")
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"kl_warmup_epochs": 2})})
    out = tmp_path_factory.mktemp("vae")
    return spec, caegen.train(spec, epochs=4, batch_size=32, limit=512, out=out)


@pytest.mark.keras
@pytest.mark.slow
def test_training_improves_the_elbo_and_keeps_kl_positive(digits_vae):
    from caegen.emit.keras_model import build
    from caegen.training.pipeline import evaluation_dataset
    from caegen.training.trainer import make_loss, reconstruction_metric
    from caegen.training.variational import test_elbo

    spec, result = digits_vae
    m = result.metrics
    assert m["kl"] > 0 and np.isfinite(m["elbo"]) and m["kl_weight"] == 1.0
    assert all(row["kl"] > 0 for row in result.history)
    # the untrained model, compiled as training compiles it, on the same test images
    from caegen.training.data import load_data

    untrained = build(spec).autoencoder
    untrained.compile(
        loss=make_loss(spec), loss_weights=28.0 * 28.0, metrics=[reconstruction_metric(spec)]
    )
    test = load_data(
        spec.model_copy(update={"data": spec.data.model_copy(update={"limit": 512})})
    ).test
    before = test_elbo(untrained, evaluation_dataset(test, spec, 32, seed=1), 28 * 28)
    assert m["elbo"] > before["elbo"]


@pytest.mark.keras
@pytest.mark.slow
def test_encoder_is_deterministic_and_models_load_safely(digits_vae):
    import keras

    import caegen.spec.layers.keras_layers  # noqa: F401  (registers Sampling for load_model)

    _, result = digits_vae
    encoder = keras.saving.load_model(result.run_dir / "encoder.keras", safe_mode=True)
    decoder = keras.saving.load_model(result.run_dir / "decoder.keras", safe_mode=True)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    first, second = encoder.predict(x, verbose=0), encoder.predict(x, verbose=0)
    np.testing.assert_array_equal(first, second)  # the mean code
    samples = decoder.predict(np.random.default_rng(1).normal(size=(4, 2)), verbose=0)
    assert samples.shape == (4, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1


@pytest.mark.keras
@pytest.mark.slow
def test_a_vae_resumes_exactly(tmp_path):
    spec = caegen.load(SPECS / "digits_cvae.yaml")
    kwargs = {"epochs": 3, "batch_size": 32, "limit": 256}
    full = caegen.train(spec, out=tmp_path / "a", **kwargs)
    with pytest.raises(KeyboardInterrupt) as info:
        caegen.train(spec, out=tmp_path / "b", progress=CtrlCAfterEpoch1(), **kwargs)
    resumed = caegen.train(resume=info.value.run_dir, epochs=3)
    keys = ("loss", "val_loss", "kl", "val_kl")
    assert [[r[k] for k in keys] for r in resumed.history] == [
        [r[k] for k in keys] for r in full.history
    ]


def test_kl_warmup_is_a_function_of_the_epoch():
    from caegen.training.variational import kl_weight_at

    assert [kl_weight_at(e, 1.0, 4) for e in (1, 2, 4, 9)] == [0.25, 0.5, 1.0, 1.0]
    assert kl_weight_at(1, 0.5, 0) == 0.5


@pytest.mark.keras
@pytest.mark.slow
def test_sample_draws_a_grid_and_decodes_given_codes(digits_vae, tmp_path):
    from PIL import Image

    from caegen.export.sample import sample

    _, result = digits_vae
    done = sample(result.run_dir, n=16, grid=5, out=tmp_path)
    assert {p.name for p in done.written} == {"samples.png", "manifold.png", "latent_scatter.png"}
    for path in done.written:
        pixels = np.asarray(Image.open(path).convert("L"))
        assert pixels.std() > 10, path.name
    codes = tmp_path / "codes.npy"
    np.save(codes, np.zeros((8, 2), np.float32))
    decoded = sample(result.run_dir, latent=codes, out=tmp_path)
    assert [p.name for p in decoded.written] == ["decoded.png"]
    np.save(codes, np.zeros((8, 3), np.float32))
    with pytest.raises(CaegenError, match="the latent is"):
        sample(result.run_dir, latent=codes, out=tmp_path)


@pytest.mark.keras
@pytest.mark.slow
def test_a_grid_over_a_latent_that_is_not_2d_is_refused_before_anything_is_written(tmp_path):
    from caegen.export.sample import sample

    text = (SPECS / "digits_cvae.yaml").read_text().replace("units: 2", "units: 3")
    assert text.count("units: 3") == 2
    run = caegen.train(caegen.loads(text), epochs=1, batch_size=32, limit=64, out=tmp_path)
    out = tmp_path / "samples"
    with pytest.raises(CaegenError) as info:
        sample(run.run_dir, n=4, grid=5, out=out)
    (d,) = info.value.diagnostics
    assert d.code == "E065" and "latent is (3,)" in d.message
    assert not out.exists() or not any(out.iterdir())
    assert sample(run.run_dir, n=4, out=out).written  # without --grid it draws


@pytest.mark.keras
@pytest.mark.slow
def test_sample_explains_why_a_plain_autoencoder_has_no_prior(tmp_path):
    from caegen.export.sample import sample

    run = caegen.train(
        caegen.load(SPECS / "quickstart.yaml"), epochs=1, batch_size=32, limit=64, out=tmp_path
    )
    with pytest.raises(CaegenError) as info:
        sample(run.run_dir)
    (d,) = info.value.diagnostics
    assert d.code == "E065" and "--latent" in d.hint
    codes = tmp_path / "codes.npy"
    np.save(codes, np.zeros((8, 4, 4, 8), np.float32))
    assert sample(run.run_dir, latent=codes, out=tmp_path).written  # given codes: fine


@pytest.mark.keras
@pytest.mark.slow
def test_tensorboard_records_total_reconstruction_and_kl_separately(digits_vae):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, result = digits_vae
    acc = EventAccumulator(str(result.run_dir / "tensorboard" / "train"), {"tensors": 0})
    acc.Reload()
    assert {"epoch_loss", "epoch_reconstruction_error", "epoch_kl"} <= set(acc.Tags()["tensors"])
    kl = [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors("epoch_kl")]
    assert kl == pytest.approx([row["kl"] for row in result.history], rel=1e-6)


@pytest.mark.keras
@pytest.mark.slow
def test_a_vae_trains_under_mixed_precision(tmp_path):
    """float16 layers, the KL term in float32 (it joins float32 losses; exp overflows)."""
    import warnings

    text = (
        (SPECS / "digits_cvae.yaml")
        .read_text()
        .replace("seed: 0", "seed: 0\n  mixed_precision: on\n  jit_compile: off")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = caegen.train(
            caegen.loads(text), epochs=1, batch_size=32, limit=128, eval_limit=64, out=tmp_path
        )
    m = result.metrics
    assert m["mixed_precision"] and np.isfinite(m["elbo"]) and m["kl"] > 0
