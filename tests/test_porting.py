"""Porting real models: the Keras arguments people use, each checked against real Keras."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.core.diagnostics import CaegenError
from tests.conftest import FIXTURES, SPECS

PORTING = FIXTURES / "porting.yaml"
QUICKSTART = (SPECS / "quickstart.yaml").read_text()


def test_the_porting_spec_uses_every_new_argument():
    text = PORTING.read_text()
    for word in (
        "defaults:",
        "VALID",
        "kernel_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "activity_regularizer",
        "leaky_relu",
        "relu, max_value",
        "elu",
        "prelu",
        "spatial_dropout2d",
        "multiply",
        "binary_crossentropy",
        "optimizer: nadam",
        "lr_schedule",
    ):
        assert word in text, word


@pytest.mark.keras
def test_summary_keras_agrees_on_every_layer_of_the_porting_spec():
    result = CliRunner().invoke(app, ["summary", "--keras", str(PORTING)])
    assert result.exit_code == 0, result.output
    assert "Keras agrees on all 16 layers" in result.output


@pytest.mark.keras
def test_initializers_regularizers_and_defaults_reach_keras():
    built = caegen.build(caegen.load(PORTING))
    c1 = built.autoencoder.get_layer("c1")
    assert type(c1.kernel_initializer).__name__ == "HeNormal"  # from defaults
    assert c1.padding == "valid"  # `VALID` in defaults, as Keras reads it
    assert c1.kernel_regularizer.get_config() == pytest.approx({"l1": 1e-5, "l2": 1e-4})
    gate = built.autoencoder.get_layer("gate")
    assert type(gate.bias_initializer).__name__ == "Ones"
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    built.autoencoder(x, training=True)
    assert len(built.autoencoder.losses) == 2  # c1's kernel penalty, encoder.7's activity


def test_defaults_fill_only_unset_fields_and_show_in_the_resolved_spec():
    spec = caegen.load(PORTING)
    assert spec.encoder[1].padding == "valid" and spec.encoder[6].padding == "same"
    resolved = spec.resolved()
    assert resolved["encoder"][1]["padding"] == "valid"
    assert resolved["encoder"][1]["kernel_initializer"] == "he_normal"
    assert resolved["encoder"][6]["padding"] == "same"  # set on the layer: kept
    again = caegen.loads(__import__("yaml").safe_dump(resolved))
    assert again.resolved() == resolved  # applying the defaults again changes nothing


def test_defaults_with_an_unknown_field_is_located():
    text = QUICKSTART.replace("name: quickstart", "name: quickstart\ndefaults: {filterz: 3}")
    with pytest.raises(CaegenError) as info:
        caegen.loads(text)
    (d,) = info.value.diagnostics
    assert d.code == "E011" and d.location.path == "defaults.filterz"


@pytest.mark.parametrize(
    ("written", "name", "loss"),
    [
        ("optimizer: adam", "adam", "bce"),
        ("optimizer: adadelta", "adadelta", "bce"),
        ("optimizer: {name: adagrad, learning_rate: 0.01}", "adagrad", "bce"),
        ("optimizer: {name: adamax}", "adamax", "bce"),
    ],
)
def test_optimizer_shorthand_and_new_optimizers(written, name, loss):
    spec = caegen.loads(
        QUICKSTART.replace("optimizer: {name: adam, learning_rate: 0.002}", written)
    )
    assert spec.train.optimizer.name == name and spec.train.loss == loss


@pytest.mark.parametrize(
    ("keras_name", "ours"),
    [("binary_crossentropy", "bce"), ("mean_squared_error", "mse"), ("mean_absolute_error", "mae")],
)
def test_keras_loss_names_are_aliases(keras_name, ours):
    spec = caegen.loads(QUICKSTART.replace("loss: bce", f"loss: {keras_name}"))
    assert spec.train.loss == ours


@pytest.mark.keras
@pytest.mark.parametrize(
    "name", ["adam", "adamw", "nadam", "adamax", "sgd", "rmsprop", "adadelta", "adagrad"]
)
def test_every_optimizer_is_a_keras_optimizer(name):
    from caegen.spec.optimizers import KERAS_CLASS, make_optimizer

    spec = caegen.loads(
        QUICKSTART.replace("optimizer: {name: adam, learning_rate: 0.002}", f"optimizer: {name}")
    )
    optimizer = make_optimizer(spec.train.optimizer)
    assert type(optimizer).__name__ == KERAS_CLASS[name]


@pytest.mark.keras
def test_cosine_schedule_with_warmup_counts_in_epochs():
    from caegen.spec.optimizers import learning_rate

    spec = caegen.loads(
        QUICKSTART.replace(
            "optimizer: {name: adam, learning_rate: 0.002}",
            "optimizer: {name: adam, learning_rate: 0.002}\n"
            "  lr_schedule: {name: cosine, warmup_epochs: 2, alpha: 0.1}",
        )
    )
    schedule = learning_rate(
        spec.train.optimizer, spec.train.lr_schedule, epochs=10, steps_per_epoch=5
    )
    at = lambda step: float(schedule(step))  # noqa: E731
    assert at(0) == pytest.approx(0.0)
    assert at(10) == pytest.approx(0.002)  # warm-up ends after epoch 2
    assert at(50) == pytest.approx(0.0002, rel=1e-4)  # alpha x the rate at the last epoch


@pytest.mark.keras
def test_exponential_and_plateau_schedules():
    from caegen.spec.optimizers import Adam, Exponential, Plateau, learning_rate, schedule_callbacks

    schedule = learning_rate(Adam(learning_rate=0.1), Exponential(decay_rate=0.5), 4, 10)
    assert float(schedule(10)) == pytest.approx(0.05)
    (callback,) = schedule_callbacks(Plateau(factor=0.2, patience=2))
    assert type(callback).__name__ == "ReduceLROnPlateau" and callback.factor == 0.2


@pytest.mark.keras
@pytest.mark.slow
def test_a_scheduled_run_resumes_exactly(tmp_path):
    """The schedule lives in the optimizer (its step counter is checkpointed)."""
    import os
    import signal
    import time

    class CtrlCAfterEpoch2:
        def start(self, info): ...
        def batch(self, epoch, step, steps, loss): ...
        def warn(self, message): ...

        def epoch(self, row, epochs, eta_s):
            if row["epoch"] == 2:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)

    text = QUICKSTART.replace(
        "optimizer: {name: adam, learning_rate: 0.002}",
        "optimizer: nadam\n  lr_schedule: {name: cosine, warmup_epochs: 1}",
    )
    spec = caegen.loads(text)
    full = caegen.train(spec, epochs=4, batch_size=32, limit=128, out=tmp_path / "a")
    with pytest.raises(KeyboardInterrupt) as info:
        caegen.train(
            spec,
            epochs=4,
            batch_size=32,
            limit=128,
            out=tmp_path / "b",
            progress=CtrlCAfterEpoch2(),
        )
    resumed = caegen.train(resume=info.value.run_dir, epochs=4)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]


def test_keras_class_names_get_the_caegen_type():
    text = QUICKSTART.replace("{type: max_pool2d, pool_size: 2}", "{type: MaxPooling2D}", 1)
    with pytest.raises(CaegenError) as info:
        caegen.loads(text)
    (d,) = info.value.diagnostics
    assert d.code == "E010" and "write `type: max_pool2d`" in d.hint


def test_activation_arguments_on_the_plain_activation_layer_point_to_the_layer_type():
    text = QUICKSTART.replace(
        "{type: max_pool2d, pool_size: 2}",
        "{type: activation, activation: leaky_relu, alpha: 0.1}",
        1,
    )
    with pytest.raises(CaegenError) as info:
        caegen.loads(text)
    (d,) = info.value.diagnostics
    assert d.code == "E011" and "unknown field `alpha`" in d.message
    assert "{type: leaky_relu, negative_slope: ...}" in d.hint
