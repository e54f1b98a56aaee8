"""`caegen train` end to end on real data: the run directory, resume, SIGINT, NaN."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("keras")

import caegen  # noqa: E402
from caegen.core.diagnostics import CaegenError  # noqa: E402
from caegen.training.rundir import Run  # noqa: E402
from tests.conftest import ROOT, SPECS  # noqa: E402

RUN_FILES = {
    "spec.yaml",
    "model.keras",
    "encoder.keras",
    "decoder.keras",
    "history.csv",
    "metrics.json",
    "per_image.csv",
    "loss.png",
    "reconstructions.png",
    "checkpoints",
    "tensorboard",
    "status.json",
    ".lock",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    spec = caegen.load(SPECS / "quickstart.yaml")
    return caegen.train(spec, epochs=3, batch_size=16, limit=1024, out=out)


def test_run_directory_is_complete(quick_run):
    run = quick_run.run_dir
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert run.parent.name == "quickstart"
    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[1]["images_per_s"]) > 0


def test_run_spec_is_resolved_and_hashed(quick_run):
    text = (quick_run.run_dir / "spec.yaml").read_text()
    spec = caegen.loads(text)
    assert f"# spec-hash: {spec.spec_hash()}" in text
    assert spec.train.epochs == 3 and spec.train.batch_size == 16
    assert spec.encoder[0].padding == "same"  # defaults written out


def test_metrics(quick_run):
    m = json.loads((quick_run.run_dir / "metrics.json").read_text())
    assert {"mse", "mae", "psnr", "ssim", "baseline_mean_image_psnr"} <= set(m)
    assert m["psnr"] > m["baseline_mean_image_psnr"]
    assert 0 < m["ssim"] <= 1 and m["epochs"] == 3 and m["device"] == "CPU"


def test_pngs_are_real_images(quick_run):
    for name, min_size in (("loss.png", (300, 200)), ("reconstructions.png", (400, 100))):
        image = Image.open(quick_run.run_dir / name)
        image.verify()
        image = Image.open(quick_run.run_dir / name).convert("L")
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        pixels = np.asarray(image)
        assert pixels.std() > 10, f"{name} looks blank"


def test_tensorboard_events_load(quick_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_dir = quick_run.run_dir / "tensorboard" / "train"
    acc = EventAccumulator(str(train_dir), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    names = set(tags.get("tensors", [])) | set(tags.get("scalars", []))
    assert "epoch_loss" in names
    values = (
        acc.Tensors("epoch_loss")
        if "epoch_loss" in tags.get("tensors", [])
        else acc.Scalars("epoch_loss")
    )
    assert len(values) == 3


def test_saved_models_predict(quick_run):
    import keras

    model = keras.saving.load_model(quick_run.run_dir / "model.keras", safe_mode=True)
    enc = keras.saving.load_model(quick_run.run_dir / "encoder.keras", safe_mode=True)
    dec = keras.saving.load_model(quick_run.run_dir / "decoder.keras", safe_mode=True)
    x = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(
        dec.predict(enc.predict(x, verbose=0), verbose=0), model.predict(x, verbose=0), atol=1e-5
    )


def test_resume_continues_to_the_requested_epochs(quick_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(quick_run.run_dir, run)
    assert caegen.load(run / "spec.yaml").data.limit == 1024  # the run's data, remembered
    metrics_before = (run / "metrics.json").read_bytes()
    with pytest.raises(CaegenError) as info:
        caegen.train(resume=run)  # its spec's 3 epochs are done
    assert info.value.diagnostics[0].code == "E058"
    assert (run / "metrics.json").read_bytes() == metrics_before
    result = caegen.train(resume=run, epochs=4)
    assert result.run_dir == run and result.metrics["train_images"] == 1024
    # train_seconds: the 3 epochs before the resume and the one after
    before = json.loads(metrics_before)["train_seconds"]
    assert result.metrics["train_seconds"] == pytest.approx(
        before + result.history[3]["seconds"], abs=0.011
    )
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epoch"] == 4
    assert Run(run).status().state == "finished" and Run(run).status().epoch == 4


def test_run_dirs_are_never_reused(tmp_path):
    spec = caegen.load(SPECS / "quickstart.yaml")
    first = Run.create(tmp_path, spec)
    second = Run.create(tmp_path, spec)
    for run in (first, second):
        run.release()
    assert first.path != second.path and first.path.exists() and second.path.exists()
    assert Run.find(tmp_path / "quickstart").path == max(first.path, second.path)


@pytest.mark.parametrize("out", ["file", "file/deeper"])
def test_run_dir_under_a_file_is_a_clear_error(tmp_path, out):
    (tmp_path / "file").write_text("mine\n")
    with pytest.raises(CaegenError) as info:
        Run.create(tmp_path / out, caegen.load(SPECS / "quickstart.yaml"))
    (d,) = info.value.diagnostics
    assert d.code == "E057" and f"{tmp_path / 'file'} is a file" in d.message
    assert (tmp_path / "file").read_text() == "mine\n"


def test_damaged_image_met_while_streaming_is_a_clear_error(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(folder / f"{i}.png")
    whole = (folder / "0.png").read_bytes()
    (folder / "0.png").write_bytes(whole[:60])  # a PNG signature, then nothing
    spec = caegen.loads(
        "name: f\ninput: [8, 8, 1]\nencoder:\n  - {type: conv2d, filters: 2, kernel_size: 3, "
        "strides: 2}\ndecoder:\n  - {type: conv2d_transpose, filters: 1, kernel_size: 3, "
        f"strides: 2}}\ndata: {{source: folder, path: '{folder}'}}\n"
    )
    with pytest.raises(CaegenError) as info:
        caegen.train(spec, epochs=1, batch_size=4, out=tmp_path / "runs")
    (d,) = info.value.diagnostics
    assert d.code == "E053" and "could not be decoded" in d.message and "PNG" in d.message


def test_find_run_errors(tmp_path):
    with pytest.raises(CaegenError) as info:
        Run.find(tmp_path)
    assert info.value.diagnostics[0].code == "E052"


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    text = (
        (SPECS / "quickstart.yaml")
        .read_text()
        .replace(
            "optimizer: {name: adam, learning_rate: 0.002}",
            "optimizer: {name: sgd, learning_rate: 1.0e+30}",
        )
        .replace("loss: bce", "loss: mse")
        .replace("activation: sigmoid", "activation: linear")
    )
    with pytest.raises(CaegenError) as info:
        caegen.train(caegen.loads(text), epochs=2, batch_size=64, limit=256, out=tmp_path)
    (d,) = info.value.diagnostics
    assert d.code == "E055" and "NaN" in d.message
    (run,) = (tmp_path / "quickstart").iterdir()
    assert not (run / "model.keras").exists()  # nothing half-trained is presented as a result


def test_sigint_then_resume(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "caegen",
        "train",
        str(SPECS / "quickstart.yaml"),
        "--out",
        str(tmp_path),
        "--epochs",
        "200",
        "--limit",
        "512",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 240
    state = None
    while time.time() < deadline and proc.poll() is None:
        found = list(tmp_path.glob("quickstart/*/checkpoints/state.json"))
        if found:
            state = found[0]
            break
        time.sleep(0.5)
    assert state is not None, "no epoch finished"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    run = state.parent.parent
    assert not (run / "model.keras").exists()
    done = json.loads(state.read_text())["epoch"]
    target = done + 1
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "caegen",
            "train",
            "--resume",
            str(run),
            "--epochs",
            str(target),
            "--limit",
            "512",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert {p.name for p in run.iterdir()} == RUN_FILES
    with (run / "history.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, target + 1))


def test_interrupt_handler_records_then_raises_outside_tensorflow():
    from caegen.training.trainer import Interrupt

    before = signal.getsignal(signal.SIGINT)
    interrupt = Interrupt()
    with pytest.raises(KeyboardInterrupt), interrupt.installed():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here and only records the request
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C does not wait
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before


class SigintAfterEpoch:
    """A progress display whose user presses Ctrl-C once the given epoch is written."""

    def __init__(self, epoch: int) -> None:
        self.at_epoch = epoch
        self.display_finished = False

    def start(self, info):
        pass

    def batch(self, epoch, step, steps, loss):
        pass

    def epoch(self, row, epochs, eta_s):
        if row["epoch"] == self.at_epoch:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here: it must not raise inside other code
            self.display_finished = True


def test_ctrl_c_in_process_stops_at_the_next_batch_with_the_epoch_checkpointed(tmp_path):
    spec = caegen.load(SPECS / "quickstart.yaml")
    display = SigintAfterEpoch(2)
    with pytest.raises(KeyboardInterrupt):
        caegen.train(spec, epochs=50, batch_size=64, limit=256, out=tmp_path, progress=display)
    assert display.display_finished
    (run,) = (tmp_path / "quickstart").iterdir()
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epoch"] == 2
    status = Run(run).status()
    assert (status.state, status.epoch, status.reason) == ("interrupted", 2, "Ctrl-C")
    with (run / "history.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]
    assert not (run / "model.keras").exists()


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_trains_a_few_batches(path, keras_home, tmp_path):
    spec = caegen.load(path)
    if not caegen.check(spec).ok:
        with pytest.raises(CaegenError):
            caegen.train(spec, epochs=1, out=tmp_path)
        return
    result = caegen.train(spec, epochs=1, batch_size=8, limit=16, out=tmp_path)
    assert (result.run_dir / "model.keras").exists()
    assert np.isfinite(result.metrics["mse"])


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from caegen.core import fsutil

    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fsutil.os, "replace", broken_replace)
    with pytest.raises(OSError):
        fsutil.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in Path(tmp_path).iterdir()] == ["metrics.json"]


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path):
    text = (
        (SPECS / "quickstart.yaml")
        .read_text()
        .replace(
            "optimizer: {name: adam, learning_rate: 0.002}",
            "optimizer: {name: sgd, learning_rate: 1.0e-12}\n"
            "  early_stopping: {patience: 1, min_delta: 0.001}",
        )
    )
    result = caegen.train(caegen.loads(text), epochs=20, batch_size=64, limit=256, out=tmp_path)
    assert len(result.history) == 2  # the first epoch sets the best, one more without gain
    assert (result.run_dir / "model.keras").exists()


def test_mixed_precision_path(tmp_path):
    """Forced on (on a GPU it is on by default): float16 layers, a float32 output."""
    import keras

    text = (
        (SPECS / "quickstart.yaml")
        .read_text()
        .replace("seed: 0", "seed: 0\n  mixed_precision: on\n  jit_compile: off")
    )
    result = caegen.train(caegen.loads(text), epochs=1, batch_size=64, limit=128, out=tmp_path)
    assert result.metrics["mixed_precision"] and not result.metrics["jit_compile"]
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    with warnings.catch_warnings():  # Keras skips the loss-scale optimizer's state here
        warnings.simplefilter("ignore", UserWarning)
        model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    assert model.output.dtype == "float32"
