"""TensorBoard as the single-layer CAE study uses it, read back with TensorBoard's own
EventAccumulator: reconstructions per epoch, the reconstruction error apart from the
penalty, and one HParams session per run."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("keras")
pytest.importorskip("tensorboard")

import caegen  # noqa: E402
from tests.conftest import SPECS  # noqa: E402

QUICKSTART = (SPECS / "quickstart.yaml").read_text()


def accumulator(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"tensors": 0, "scalars": 0, "images": 0})
    acc.Reload()
    return acc


def scalars(acc, tag: str) -> dict[int, float]:
    import tensorflow as tf

    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}


def history(run) -> list[dict[str, str]]:
    with (run / "history.csv").open() as f:
        return list(csv.DictReader(f))


def train(tmp_path, l2: float, epochs: int = 2):
    text = QUICKSTART.replace(
        "seed: 0",
        f"seed: 0\n  weight_decay: {{l2: {l2}, scope: all}}\n  tensorboard_images_every: 1",
    )
    return caegen.train(caegen.loads(text), epochs=epochs, batch_size=32, limit=128, out=tmp_path)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return train(tmp_path_factory.mktemp("plain"), l2=0.0)


@pytest.fixture(scope="module")
def decayed(tmp_path_factory):
    return train(tmp_path_factory.mktemp("decayed"), l2=0.01)


def test_reconstructions_as_images_every_logged_epoch(plain):
    acc = accumulator(plain.run_dir / "tensorboard" / "images")
    events = acc.Tensors("reconstructions")
    assert [e.step for e in events] == [1, 2]
    for event in events:
        width, height, *pngs = event.tensor_proto.string_val
        image = Image.open(io.BytesIO(pngs[0]))
        # input | reconstruction: 2 rows of 16x16 digits, 8 of them
        assert (int(width), int(height)) == (8 * 16, 2 * 16) == image.size
        assert np.asarray(image).std() > 5


def test_reconstruction_error_scalars_equal_history(plain):
    rows = history(plain.run_dir)
    for split, column in (
        ("train", "reconstruction_error"),
        ("validation", "val_reconstruction_error"),
    ):
        logged = scalars(
            accumulator(plain.run_dir / "tensorboard" / split), "epoch_reconstruction_error"
        )
        assert [logged[i] for i in sorted(logged)] == pytest.approx(
            [float(r[column]) for r in rows], rel=1e-6
        )


def test_without_weight_decay_the_reconstruction_error_is_the_loss(plain):
    for row in history(plain.run_dir):
        assert float(row["reconstruction_error"]) == pytest.approx(float(row["loss"]), rel=1e-5)
        assert float(row["val_reconstruction_error"]) == pytest.approx(
            float(row["val_loss"]), rel=1e-5
        )


def test_with_weight_decay_the_difference_is_the_penalty(decayed):
    import keras

    model = keras.saving.load_model(decayed.run_dir / "model.keras", safe_mode=True)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    penalty = sum(0.01 * float(np.sum(np.square(k.numpy()))) for k in kernels)
    last = history(decayed.run_dir)[-1]  # validation uses the weights at the end of the epoch
    gap = float(last["val_loss"]) - float(last["val_reconstruction_error"])
    assert penalty > 1e-3 and gap == pytest.approx(penalty, rel=1e-3)
    metrics = json.loads((decayed.run_dir / "metrics.json").read_text())
    assert metrics["errors_include_penalty"] is False


def test_hparams_session_holds_the_runs_settings_and_test_metrics(plain):
    from tensorboard.plugins.hparams import metadata

    acc = accumulator(plain.run_dir / "tensorboard")
    content = acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    info = metadata.parse_session_start_info_plugin_data(content)
    hparams = {k: v.ListFields()[0][1] for k, v in info.hparams.items()}
    spec = caegen.load(plain.run_dir / "spec.yaml")
    assert hparams["spec"] == spec.name and hparams["spec_hash"] == spec.spec_hash()
    assert hparams["loss"] == "bce" and hparams["optimizer"] == "adam"
    assert hparams["learning_rate"] == pytest.approx(0.002)
    assert hparams["batch_size"] == 32 and hparams["epochs"] == 2 and hparams["seed"] == 0
    assert hparams["params"] == caegen.check(spec).params.total
    assert hparams["weight_decay_scope"] == "all" and hparams["noise_stddev"] == 0.0
    metrics = json.loads((plain.run_dir / "metrics.json").read_text())
    for name in ("mse", "psnr", "ssim"):
        (value,) = scalars(acc, f"test/{name}").values()
        assert value == pytest.approx(metrics[name], rel=1e-6)


def test_the_model_graph_is_written(plain):
    """Keras 3 writes the model's conceptual graph (the Graphs tab) as a `keras` summary."""
    acc = accumulator(plain.run_dir / "tensorboard" / "train")
    (event,) = acc.Tensors("keras")
    config = json.loads(event.tensor_proto.string_val[0])
    names = {layer["config"]["name"] for layer in config["config"]["layers"]}
    assert {"encoder.0", "decoder.4"} <= names


def hparams_backend(logdir):
    """The HParams plugin's backend over `logdir`, as `tensorboard --logdir` builds it."""
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    events = multiplexer.EventMultiplexer()
    events.AddRunsFromDirectory(str(logdir))
    events.Reload()
    provider = data_provider.MultiplexerDataProvider(events, str(logdir))
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    return backend_context.Context(context)


def test_the_hparams_table_has_the_hyperparameters_and_metrics_as_columns(plain, decayed, tmp_path):
    """TensorBoard's HParams plugin, over a folder of two runs, answers the dashboard's two
    requests from the experiment config the runs wrote: every hyperparameter with its domain,
    the test metrics and validation losses as columns, and each session's values in them."""
    import shutil

    from tensorboard import context
    from tensorboard.plugins.hparams import (
        api_pb2,
        get_experiment,
        list_session_groups,
        metadata,
    )

    from caegen.training.tensorboard import hyperparameters

    for name, result in (("plain", plain), ("decayed", decayed)):
        shutil.copytree(result.run_dir / "tensorboard", tmp_path / name)
    acc = accumulator(tmp_path / "plain")
    content = acc.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content
    written = metadata.parse_experiment_plugin_data(content)

    backend, ctx = hparams_backend(tmp_path), context.RequestContext()
    experiment = get_experiment.Handler(ctx, backend, "", api_pb2.GetExperimentRequest()).run()
    # the config as written (the plugin sorts the hyperparameters), not metrics invented
    # from scalar tags
    assert sorted(map(str, experiment.hparam_infos)) == sorted(map(str, written.hparam_infos))
    assert experiment.metric_infos == written.metric_infos
    spec = caegen.load(plain.run_dir / "spec.yaml")
    hparams = {info.name: info for info in experiment.hparam_infos}
    assert set(hparams) == set(hyperparameters(spec, caegen.check(spec)))
    assert list(hparams["loss"].domain_discrete) == ["bce", "mae", "mse"]
    assert "sgd" in list(hparams["optimizer"].domain_discrete)
    assert hparams["batch_size"].domain_interval.min_value == 1
    assert hparams["learning_rate"].domain_interval.min_value == 0
    columns = [(m.name.group, m.name.tag) for m in experiment.metric_infos]
    assert columns == [
        ("", "test/mse"),
        ("", "test/psnr"),
        ("", "test/ssim"),
        ("validation", "epoch_loss"),
        ("validation", "epoch_reconstruction_error"),
    ]

    request = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=10,
        col_params=[api_pb2.ColParams(metric=m.name) for m in experiment.metric_infos],
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS],
    )
    groups = list_session_groups.Handler(ctx, backend, "", request).run().session_groups
    assert len(groups) == 2
    for name, result in (("plain", plain), ("decayed", decayed)):
        (group,) = [g for g in groups if g.sessions[0].name == name]
        values = {(v.name.group, v.name.tag): v.value for v in group.metric_values}
        assert set(values) == set(columns)  # a value in every column
        metrics = json.loads((result.run_dir / "metrics.json").read_text())
        assert values[("", "test/psnr")] == pytest.approx(metrics["psnr"], rel=1e-6)
        last = history(result.run_dir)[-1]
        assert values[("validation", "epoch_loss")] == pytest.approx(float(last["val_loss"]))
        assert group.hparams["weight_decay_l2"].number_value == (0.0 if name == "plain" else 0.01)
