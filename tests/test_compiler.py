"""The static compiler on whole specs: params, liveness, reconstruction, wiring."""

from __future__ import annotations

import caegen
from tests.conftest import FIXTURES, SPECS


def codes(report):
    return [d.code for d in report.diagnostics]


def test_method2_params_match_keras_numbers():
    report = caegen.check(caegen.load(SPECS / "cifar10_method2.yaml"))
    assert report.ok
    p = report.params
    assert (p.total, p.trainable, p.non_trainable) == (19_363, 19_107, 256)
    assert report.latent_shape == (8, 8, 16)
    assert report.compression_ratio == 3.0
    assert report.decoder_separable


def test_method1_reports_exactly_four_dead_batch_norms():
    report = caegen.check(caegen.load(SPECS / "cifar10_method1_bug.yaml"))
    assert [d.code for d in report.errors] == ["E040"] * 4
    dead = [n.name for n in report.layers() if not n.live]
    assert dead == ["bnorm1_1", "bnorm1_2", "bnorm2_1", "bnorm2_2"]
    assert report.params.total == 18_851
    lines = [d.location.line for d in report.errors]
    assert lines == [9, 12, 16, 19]


def test_odd_pooling_names_the_pool_where_7_became_4():
    report = caegen.check(caegen.load(FIXTURES / "diagnostics" / "E031.yaml"))
    (err,) = report.errors
    assert err.code == "E031"
    assert "28 -> 14 -> 7 -> 4" in err.message
    assert "encoder[5]" in err.message and "rounded 7x7 / 2 up to 4x4" in err.message
    assert err.location.line == 10
    assert "divisible by 8" in err.hint and "cropping2d" in err.hint


def test_channel_mismatch_hint():
    spec = caegen.loads(
        "name: t\ninput: [8, 8, 3]\nencoder:\n  - {type: conv2d, filters: 2, kernel_size: 3}\n"
        "decoder:\n  - {type: conv2d, filters: 1, kernel_size: 3}\n"
    )
    (err,) = caegen.check(spec).errors
    assert err.code == "E031" and "3 filters" in err.hint


def test_skip_connection_graph_is_valid_but_not_separable():
    report = caegen.check(caegen.load(FIXTURES / "unet.yaml"))
    assert report.ok
    assert "W105" in codes(report) and "I108" in codes(report)
    assert not report.decoder_separable
    concat = report.graph.node("decoder.1")
    assert concat.shape == (8, 8, 4)


def test_latent_reference_and_input_reference():
    spec = caegen.loads(
        """
name: refs
input: [8, 8, 1]
encoder:
  - {type: conv2d, filters: 2, kernel_size: 3, strides: 2}
decoder:
  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2, inputs: latent}
"""
    )
    report = caegen.check(spec)
    assert report.ok
    assert report.graph.node("decoder.0").inputs == ["encoder.0"]


def test_summary_numbers():
    report = caegen.check(caegen.load(SPECS / "quickstart.yaml"))
    assert report.macs == sum(n.macs for n in report.layers())
    assert report.activation_bytes > 0
    assert report.receptive_field == (10, 10)
    data = report.to_dict()
    assert data["summary"]["params"]["total"] == report.params.total
    assert next(layer["name"] for layer in data["layers"]) == "encoder.0"


def test_batch_norm_after_an_activation_layer_hints_at_moving_that_layer(spec_text):
    text = spec_text(
        encoder="\n  - {type: conv2d, filters: 4, kernel_size: 3, strides: 2}"
        "\n  - {type: activation, name: act, activation: leaky_relu}"
        "\n  - {type: batch_norm}"
    )
    (d,) = [d for d in caegen.check(caegen.loads(text)).diagnostics if d.code == "W103"]
    assert "move `act` after the batch norm" in d.hint and "drop the activation" not in d.hint


def test_receptive_field_is_the_true_size_even_past_the_input():
    conv = "\n  - {type: conv2d, filters: 2, kernel_size: 3}"
    text = (
        "name: rf\ninput: [8, 8, 1]\nencoder:" + conv * 5 + "\ndecoder:" + conv.replace("2,", "1,")
    )
    report = caegen.check(caegen.loads(text))
    assert report.receptive_field == (11, 11)  # 5 stacked 3x3 convs, wider than the 8x8 input


def _w111(encoder: str, decoder: str) -> list[str]:
    text = f"name: d\ninput: [8, 8, 1]\nencoder:{encoder}\ndecoder:{decoder}"
    return [d.message for d in caegen.check(caegen.loads(text)).diagnostics if d.code == "W111"]


def test_dense_on_a_feature_map_is_reported_where_a_vector_was_meant():
    # a dense-only encoder on an image: each pixel gets its own 4 units
    assert _w111(
        "\n  - {type: dense, units: 4}", "\n  - {type: dense, units: 1, activation: sigmoid}"
    )
    # a deliberate per-pixel projection between convolutions stays quiet
    assert not _w111(
        "\n  - {type: conv2d, filters: 4, kernel_size: 3}\n  - {type: dense, units: 2}",
        "\n  - {type: conv2d, filters: 1, kernel_size: 3}",
    )
    # dense after flatten is the usual bottleneck: quiet
    assert not _w111(
        "\n  - {type: conv2d, filters: 2, kernel_size: 3, strides: 2}\n  - {type: flatten}"
        "\n  - {type: dense, units: 8}",
        "\n  - {type: dense, units: 64}\n  - {type: reshape, target_shape: [8, 8, 1]}",
    )
