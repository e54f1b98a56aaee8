"""Emitted Keras models: round trips per layer type, build/predict/save/load, summary CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import TypeAdapter
from typer.testing import CliRunner

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

import caegen  # noqa: E402
from caegen.cli import app  # noqa: E402
from caegen.emit.keras_model import compare_with_keras  # noqa: E402
from caegen.spec.layers import LAYER_BY_TYPE, LayerSpec  # noqa: E402
from tests.conftest import FIXTURES, SPECS  # noqa: E402

ADAPTER = TypeAdapter(LayerSpec)

# One non-default example per layer type: spec -> Keras layer -> get_config() -> spec fields.
ROUND_TRIP = {
    "conv2d": {
        "filters": 7,
        "kernel_size": [3, 5],
        "strides": 2,
        "padding": "valid",
        "activation": "tanh",
        "use_bias": False,
    },
    "conv2d_transpose": {
        "filters": 4,
        "kernel_size": 3,
        "strides": 2,
        "output_padding": 1,
        "activation": "relu",
    },
    "separable_conv2d": {"filters": 8, "kernel_size": 3, "depth_multiplier": 2, "dilation_rate": 2},
    "depthwise_conv2d": {"kernel_size": 5, "depth_multiplier": 3, "padding": "valid"},
    "max_pool2d": {"pool_size": 3, "strides": 2, "padding": "valid"},
    "avg_pool2d": {"pool_size": [2, 3]},
    "upsampling2d": {"size": [2, 3], "interpolation": "bilinear"},
    "batch_norm": {"momentum": 0.9, "epsilon": 0.01, "center": False},
    "layer_norm": {"epsilon": 1e-5, "scale": False},
    "group_norm": {"groups": 4, "epsilon": 1e-4},
    "activation": {"activation": "selu"},
    "dropout": {"rate": 0.3},
    "gaussian_noise": {"stddev": 0.2},
    "dense": {"units": 12, "activation": "gelu", "use_bias": False},
    "flatten": {},
    "reshape": {"target_shape": [4, -1]},
    "zero_padding2d": {"padding": [[1, 2], [3, 0]]},
    "cropping2d": {"cropping": [2, 1]},
    "add": {},
    "concatenate": {"axis": 2},
    "multiply": {},
    "leaky_relu": {"negative_slope": 0.1},
    "relu": {"max_value": 6.0, "threshold": 0.5},
    "elu": {"alpha": 0.7},
    "prelu": {"shared_axes": [1, 2]},
    "spatial_dropout2d": {"rate": 0.4},
    "global_average_pooling2d": {"keepdims": True},
    "sampling": {},
}
ROUND_TRIP["conv2d"] |= {
    "kernel_initializer": "he_normal",
    "bias_initializer": "ones",
    "kernel_regularizer": {"l1": 0.01, "l2": 0.001},
    "activity_regularizer": {"l1": 1e-5},
}
ROUND_TRIP["dense"] |= {"kernel_initializer": "lecun_uniform"}


def test_round_trip_covers_every_type():
    assert set(ROUND_TRIP) == set(LAYER_BY_TYPE)


@pytest.mark.parametrize("kind", sorted(ROUND_TRIP))
def test_round_trip(kind):
    spec_layer = ADAPTER.validate_python({"type": kind, **ROUND_TRIP[kind]})
    keras_layer = spec_layer.to_keras("layer")
    assert type(keras_layer).__name__ == spec_layer.keras_class
    config = keras_layer.get_config()
    back = type(spec_layer).from_keras_config(config)
    assert back.keras_kwargs() == spec_layer.keras_kwargs()
    for key in ROUND_TRIP[kind]:
        assert getattr(back, key) == getattr(spec_layer, key), key


@pytest.fixture(scope="module")
def quickstart():
    return caegen.build(caegen.load(SPECS / "quickstart.yaml"))


def test_models_share_weights_and_predict(quickstart):
    x = np.random.default_rng(0).random((3, 16, 16, 1), dtype=np.float32)
    recon = quickstart.autoencoder.predict(x, verbose=0)
    assert recon.shape == x.shape
    latent = quickstart.encoder.predict(x, verbose=0)
    assert latent.shape == (3, 4, 4, 8)
    np.testing.assert_allclose(quickstart.decoder.predict(latent, verbose=0), recon, atol=1e-6)
    names = [layer.name for layer in quickstart.autoencoder.layers[1:]]
    assert names == [f"encoder.{i}" for i in range(4)] + [f"decoder.{i}" for i in range(5)]


def test_saved_models_load_in_safe_mode(quickstart, tmp_path):
    x = np.random.default_rng(1).random((2, 16, 16, 1), dtype=np.float32)
    for model in (quickstart.autoencoder, quickstart.encoder, quickstart.decoder):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        inp = x if model is not quickstart.decoder else quickstart.encoder.predict(x, verbose=0)
        np.testing.assert_allclose(
            loaded.predict(inp, verbose=0), model.predict(inp, verbose=0), atol=1e-6
        )


def test_weight_decay_scope_encoder_leaves_decoder_unregularized():
    text = (SPECS / "quickstart.yaml").read_text() + "  weight_decay: {l2: 0.001, scope: encoder}\n"
    built = caegen.build(caegen.loads(text))
    regularized = {
        layer.name
        for layer in built.autoencoder.layers
        if getattr(layer, "kernel_regularizer", None) is not None
    }
    assert regularized == {"encoder.0", "encoder.2"}


def test_skip_connection_has_no_decoder():
    built = caegen.build(caegen.load(FIXTURES / "unet.yaml"))
    assert built.decoder is None and built.decoder_note is not None
    assert built.decoder_note.code == "I108"
    assert all(a.agrees for a in compare_with_keras(built))


def test_build_refuses_specs_with_errors():
    with pytest.raises(caegen.CaegenError) as info:
        caegen.build(caegen.load(SPECS / "cifar10_method1_bug.yaml"))
    assert {d.code for d in info.value.diagnostics} == {"E040"}


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_summary_keras_agrees_on_every_shipped_spec(path):
    report = caegen.check(caegen.load(path))
    if not report.ok:
        pytest.skip("deliberately broken spec")
    result = CliRunner().invoke(app, ["summary", "--keras", "-f", "json", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["keras"]["agrees"] is True
    built_total = sum(
        layer["params"]["trainable"] + layer["params"]["non_trainable"]
        for layer in data["keras"]["layers"]
    )
    assert built_total == data["summary"]["params"]["total"]


def test_summary_text_for_method2():
    result = CliRunner().invoke(app, ["summary", "--keras", str(SPECS / "cifar10_method2.yaml")])
    assert result.exit_code == 0
    assert "19,363 total, 19,107 trainable, 256 non-trainable" in result.output
    assert "Keras agrees on all 13 layers" in result.output
    assert "3.00x compression" in result.output
