"""Runs you can trust: faults injected on purpose (Ctrl-C, kill -9, damaged files, a full
disk, NaN, bad data), and what a run directory says afterwards.

Every test trains a tiny spec for a few epochs on bundled data.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("keras")

import caegen  # noqa: E402
from caegen.core.diagnostics import CaegenError  # noqa: E402
from caegen.training.rundir import Run  # noqa: E402
from tests.conftest import ROOT, SPECS, run_caegen  # noqa: E402

LIMIT = 128
BATCH = 32

# quickstart with every stochastic input: a shuffled split, denoising noise, dropout
STOCHASTIC = (
    (SPECS / "quickstart.yaml")
    .read_text()
    .replace("source: digits", "source: digits\n  noise: {stddev: 0.2}")
    .replace(
        "  - {type: max_pool2d, pool_size: 2}\ndecoder:",
        "  - {type: max_pool2d, pool_size: 2}\n  - {type: dropout, rate: 0.3}\ndecoder:",
    )
)


def stochastic_spec():
    return caegen.loads(STOCHASTIC)


def train(spec, out, epochs, **kwargs):
    return caegen.train(spec, epochs=epochs, batch_size=BATCH, limit=LIMIT, out=out, **kwargs)


def weights(path: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(path, safe_mode=True).get_weights()


def history(run: Path) -> list[dict[str, str]]:
    with (run / "history.csv").open() as f:
        return list(csv.DictReader(f))


def losses(run: Path) -> list[tuple[str, str]]:
    return [(r["loss"], r["val_loss"]) for r in history(run)]


def assert_same_run(a: Path, b: Path) -> None:
    """Same history (to the last printed digit) and bit-identical final weights."""
    assert losses(a) == losses(b)
    for x, y in zip(weights(a / "model.keras"), weights(b / "model.keras"), strict=True):
        np.testing.assert_array_equal(x, y)
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    assert ma["mse"] == mb["mse"] and ma["psnr"] == mb["psnr"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: 4 epochs in one go."""
    return train(stochastic_spec(), tmp_path_factory.mktemp("full"), 4).run_dir


class CtrlCAfterEpoch:
    def __init__(self, epoch: int) -> None:
        self.at = epoch
        self.warnings: list[str] = []

    def start(self, info):
        pass

    def batch(self, epoch, step, steps, loss):
        pass

    def epoch(self, row, epochs, eta_s):
        if row["epoch"] == self.at:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)

    def warn(self, message):
        self.warnings.append(message)


class Recorder(CtrlCAfterEpoch):
    def __init__(self) -> None:
        super().__init__(-1)


# --- 1. exact resume ------------------------------------------------------------------------
@pytest.mark.parametrize("stop_after", [1, 3])
def test_ctrl_c_then_resume_equals_the_uninterrupted_run(uninterrupted, tmp_path, stop_after):
    with pytest.raises(KeyboardInterrupt) as info:
        train(stochastic_spec(), tmp_path, 4, progress=CtrlCAfterEpoch(stop_after))
    run = info.value.run_dir
    assert info.value.epoch == stop_after
    status = Run(run).status()
    assert (status.state, status.epoch) == ("interrupted", stop_after)
    caegen.train(resume=run, epochs=4)
    assert_same_run(uninterrupted, run)
    assert Run(run).status().state == "finished"


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return run_caegen(*args, timeout=timeout)


def _start_training(spec_path: Path, out: Path, epochs: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "caegen", "train", str(spec_path), "--out", str(out)]
    cmd += ["--epochs", str(epochs), "--limit", str(LIMIT), "--batch-size", str(BATCH)]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for(predicate, proc: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out; the process said: {proc.communicate()[0][-2000:]}")


def _state_epoch(out: Path) -> int:
    """The epoch both the checkpoint and the run's status have recorded (the status is
    marked just after the checkpoint lands: a kill between them leaves it one behind)."""
    states = list(out.glob("*/*/checkpoints/state.json"))
    try:
        checkpointed = json.loads(states[0].read_text())["epoch"] if states else 0
        marked = json.loads((states[0].parents[1] / "status.json").read_text())["epoch"]
    except (ValueError, OSError, KeyError, TypeError, IndexError):
        return 0
    return min(checkpointed, marked)


def test_kill_9_after_an_epoch_then_resume_equals_the_uninterrupted_run(uninterrupted, tmp_path):
    spec_path = tmp_path / "stochastic.yaml"
    spec_path.write_text(STOCHASTIC)
    out = tmp_path / "runs"
    proc = _start_training(spec_path, out, 4)
    _wait_for(lambda: _state_epoch(out) >= 2, proc)
    proc.kill()
    proc.wait()
    (run,) = out.glob("quickstart/*")
    status = Run(run).status()
    assert status.state == "killed" and status.epoch >= 2, status
    resumed = _cli("train", "--resume", str(run), "--epochs", "4")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [int(r["epoch"]) for r in history(run)] == [1, 2, 3, 4]
    assert_same_run(uninterrupted, run)


def test_kill_9_during_checkpoint_writes_leaves_a_resumable_run(tmp_path):
    """Killed as soon as a checkpoint is being written (the temporary file exists): whatever
    instant that lands on, the run resumes with each epoch exactly once."""
    out = tmp_path / "runs"
    proc = _start_training(SPECS / "quickstart.yaml", out, 200)
    _wait_for(lambda: any(out.glob("*/*/checkpoints/.last.tmp.keras")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run,) = out.glob("quickstart/*")
    done = Run(run).checkpoint().epoch if (run / "checkpoints" / "state.json").exists() else 0
    assert Run(run).status().state == "killed"
    if not done:  # killed while the first checkpoint was written: nothing to resume
        return
    resumed = _cli("train", "--resume", str(run), "--epochs", str(done + 1))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [int(r["epoch"]) for r in history(run)] == list(range(1, done + 2))
    assert not (run / "checkpoints" / ".last.tmp.keras").exists()


def test_sigint_in_the_cli_says_where_the_run_stands(tmp_path):
    out = tmp_path / "runs"
    proc = _start_training(SPECS / "quickstart.yaml", out, 200)
    _wait_for(lambda: _state_epoch(out) >= 1, proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    (run,) = out.glob("quickstart/*")
    epoch = Run(run).status().epoch
    assert f"epoch {epoch} is checkpointed in {run}" in output
    assert f"caegen train --resume {run} --epochs N" in output and "RUN_DIR" not in output


# --- 2. damaged files -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return train(caegen.load(SPECS / "quickstart.yaml"), tmp_path_factory.mktemp("done"), 3)


@pytest.fixture
def copy_of(finished, tmp_path):
    def make() -> Path:
        run = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        shutil.copytree(finished.run_dir, run)
        return run

    return make


def _code(exc_info) -> str:
    (d,) = exc_info.value.diagnostics
    return d.code


def test_previous_checkpoint_is_kept_and_a_damaged_last_one_falls_back(copy_of):
    run = copy_of()
    checkpoints = run / "checkpoints"
    assert {p.name for p in checkpoints.iterdir()} == {
        "last.keras",
        "previous.keras",
        "state.json",
    }
    state = json.loads((checkpoints / "state.json").read_text())
    assert [(c["file"], c["epoch"]) for c in state["checkpoints"]] == [
        ("last.keras", 3),
        ("previous.keras", 2),
    ]
    whole = (checkpoints / "last.keras").read_bytes()
    (checkpoints / "last.keras").write_bytes(whole[: len(whole) // 2])  # truncated
    recorder = Recorder()
    result = caegen.train(resume=run, epochs=4, progress=recorder)
    assert any("epoch 3" in w and "falling back" in w for w in recorder.warnings)
    # one damaged file cost one epoch: epoch 3 is trained again, each epoch listed once
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert [int(r["epoch"]) for r in history(run)] == [1, 2, 3, 4]


def test_both_checkpoints_damaged(copy_of):
    run = copy_of()
    for name in ("last.keras", "previous.keras"):
        (run / "checkpoints" / name).write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CaegenError) as info:
        caegen.train(resume=run, epochs=4)
    assert _code(info) == "E059" and "no intact checkpoint" in str(info.value)


def test_crash_between_the_checkpoint_renames_is_found_by_hash(copy_of):
    run = copy_of()
    checkpoints = run / "checkpoints"
    # as if killed after last -> previous and before the new file took last's place
    os.replace(checkpoints / "last.keras", checkpoints / "previous.keras")
    found = Run(run).checkpoint()
    assert found.epoch == 3 and found.path.name == "previous.keras" and not found.warnings


@pytest.mark.parametrize(
    ("file", "content", "command"),
    [
        ("checkpoints/state.json", os.urandom(64), "resume"),
        ("history.csv", b"epoch,loss,val_loss\n1.0,0.5,0.5\n", "resume"),
        ("history.csv", b"epoch,loss\n1,0.5\x00\x00\n", "resume"),
        ("history.csv", b"epoch,loss,val_loss\n1,0.5,0.5\n1,0.4,0.4\n", "resume"),
        ("spec.yaml", b"name: [unclosed\n", "resume"),
        ("model.keras", b"PK\x03\x04garbage", "export"),
        ("encoder.keras", b"", "export-encoder"),
        ("decoder.keras", b"PK\x05\x06" + bytes(18), "export-decoder"),
        ("status.json", b"\xff\xfe", "status"),
        ("metrics.json", b"{not json", "metrics"),
    ],
    ids=[
        "state",
        "history-float-epoch",
        "history-nul",
        "history-duplicate",
        "spec",
        "model",
        "encoder",
        "decoder",
        "status",
        "metrics",
    ],
)
def test_damaged_run_files_are_named_errors(copy_of, file, content, command):
    run = copy_of()
    (run / file).write_bytes(content)
    with pytest.raises(CaegenError) as info:
        if command == "resume":
            caegen.train(resume=run, epochs=5)
        elif command.startswith("export"):
            part = command.partition("-")[2] or "autoencoder"
            caegen.export_onnx(run, run / "m.onnx", part=part)
        elif command == "status":
            Run(run).status()
        else:
            Run(run).metrics()
    (d,) = info.value.diagnostics
    assert d.code == "E059" and str(run / file) in d.message and d.hint


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_export_with_a_missing_model_file_is_a_clear_error(copy_of, part):
    run = copy_of()
    (run / "encoder.keras").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "caegen", "export", str(run), "--onnx", "--part", part],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "E052" in result.stderr and "encoder.keras" in result.stderr


def test_export_to_a_directory_is_refused_before_converting(copy_of, tmp_path):
    run = copy_of()
    with pytest.raises(CaegenError) as info:
        caegen.export_onnx(run, tmp_path, force=True)
    assert _code(info) == "E057" and "is a directory" in str(info.value)
    with pytest.raises(CaegenError) as info:
        caegen.export_onnx(run, tmp_path / ("x" * 300 + ".onnx"))
    assert _code(info) == "E057"


# --- 3. NaN ---------------------------------------------------------------------------------
def test_nan_in_the_first_epoch_says_nothing_was_kept(tmp_path):
    text = (
        (SPECS / "quickstart.yaml")
        .read_text()
        .replace("{name: adam, learning_rate: 0.002}", "{name: sgd, learning_rate: 1.0e+30}")
        .replace("loss: bce", "loss: mse")
        .replace("activation: sigmoid", "activation: linear")
    )
    with pytest.raises(CaegenError) as info:
        train(caegen.loads(text), tmp_path, 2)
    (d,) = info.value.diagnostics
    assert d.code == "E055" and "no epoch finished, so nothing was kept" in d.message
    (run,) = (tmp_path / "quickstart").iterdir()
    status = Run(run).status()
    assert (status.state, status.epoch) == ("diverged", 0) and "epoch 1" in status.reason
    with pytest.raises(CaegenError) as info:
        Run.find(tmp_path / "quickstart", purpose="export")
    assert "diverged after epoch 0" in str(info.value)


# --- 4. status, owner, stubs ----------------------------------------------------------------
def test_a_live_run_has_one_writer(tmp_path, finished):
    run = Run.find(finished.run_dir)
    run.claim()  # as if a training process held it
    try:
        other = Run(run.path)
        assert other.status().state == "running" and other.is_live()
        with pytest.raises(CaegenError) as info:
            caegen.train(resume=run.path, epochs=9)
        assert _code(info) == "E060"
        with pytest.raises(CaegenError) as info:
            caegen.export_onnx(run.path, tmp_path / "x.onnx")
        assert _code(info) == "E052" and "running" in str(info.value)
    finally:
        run.release()
        run.mark("finished", 3)


def test_stub_runs_never_hide_the_good_one(finished, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(finished.run_dir, out / "quickstart" / "20000101-000000")

    class CtrlCAtStart(Recorder):
        def start(self, info):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        train(caegen.load(SPECS / "quickstart.yaml"), out, 2, progress=CtrlCAtStart())
    assert info.value.epoch == 0
    stub = info.value.run_dir
    assert Run(stub).status().state == "interrupted"
    assert Run.find(out / "quickstart", purpose="export").path.name == "20000101-000000"
    assert Run.find(out / "quickstart", purpose="resume").path.name == "20000101-000000"
    assert Run.find(out / "quickstart").path == stub  # the latest, whatever it is


def test_cli_ctrl_c_message_before_any_epoch():
    from caegen.cli.commands import _interrupted_message
    from caegen.training.trainer import RunInterrupted

    message = _interrupted_message(RunInterrupted(Path("runs/q/1"), 0))
    assert "nothing was kept" in message and "--resume" not in message
    assert "nothing was written" in _interrupted_message(KeyboardInterrupt())


# --- 5. the whole test split ----------------------------------------------------------------
def test_metrics_cover_the_whole_test_split(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8),
        x_test=rng.integers(0, 256, (10_000, 8, 8), dtype=np.uint8),
    )
    spec = caegen.loads(
        "name: big\ninput: [8, 8, 1]\nencoder:\n  - {type: conv2d, filters: 2, kernel_size: 3, "
        "strides: 2}\ndecoder:\n  - {type: conv2d_transpose, filters: 1, kernel_size: 3, "
        f"strides: 2, activation: sigmoid}}\ndata: {{source: npz, path: '{path}'}}\n"
    )
    result = caegen.train(spec, epochs=1, batch_size=32, out=tmp_path / "runs")
    m = result.metrics
    assert m["test_images"] == 10_000 == m["test_split_images"]
    import keras

    model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
    x = np.load(path)["x_test"][..., None].astype(np.float32) / 255.0
    expected = float(np.mean((x.astype(np.float64) - model.predict(x, verbose=0)) ** 2))
    assert m["mse"] == pytest.approx(expected, rel=1e-5)
    smaller = caegen.train(spec, epochs=1, batch_size=32, eval_limit=500, out=tmp_path / "r2")
    assert smaller.metrics["test_images"] == 500
    assert caegen.load(smaller.run_dir / "spec.yaml").data.eval_limit == 500  # recorded


# --- 6. bad inputs: refused or said, never silent -------------------------------------------
def test_resume_refuses_other_settings(finished, copy_of):
    run = copy_of()
    for kwargs, expected in (
        ({"limit": 20}, "data.limit: 128 in the run, 20 given"),
        ({"batch_size": 8}, "train.batch_size: 32 in the run, 8 given"),
        ({"seed": 3}, "train.seed: 0 in the run, 3 given"),
    ):
        with pytest.raises(CaegenError) as info:
            caegen.train(resume=run, epochs=5, **kwargs)
        assert _code(info) == "E061" and expected in str(info.value)
    other = caegen.loads(
        (SPECS / "quickstart.yaml")
        .read_text()
        .replace("learning_rate: 0.002", "learning_rate: 0.01")
    )
    with pytest.raises(CaegenError) as info:
        caegen.train(other, resume=run, epochs=5)
    assert _code(info) == "E061" and "train.optimizer.learning_rate" in str(info.value)
    with pytest.raises(CaegenError) as info:
        caegen.train(resume=run, epochs=2)  # fewer than the 3 it has
    assert _code(info) == "E058"
    assert Run(run).status().state == "finished"  # a refused resume changes nothing


def test_batch_larger_than_the_data_is_clamped_and_said(tmp_path):
    recorder = Recorder()
    result = caegen.train(
        caegen.load(SPECS / "quickstart.yaml"),
        epochs=1,
        batch_size=5000,
        limit=10,
        out=tmp_path,
        progress=recorder,
    )
    assert any("larger than the 10 training images" in w for w in recorder.warnings)
    row = result.history[0]
    assert row["images_per_s"] == pytest.approx(10 / row["seconds"])  # distinct images


def huge_spec(data: str) -> caegen.Spec:
    """A model no machine here can train even one 16000x16000 image of."""
    return caegen.loads(
        "name: huge\ninput: [16000, 16000, 1]\nencoder:\n  - {type: conv2d, filters: 64, "
        "kernel_size: 3}\ndecoder:\n  - {type: conv2d, filters: 1, kernel_size: 3}\n"
        f"data: {data}\n"
    )


def test_memory_is_checked_before_a_run_directory_exists(tmp_path):
    spec = huge_spec("{source: digits, fit: pad}")
    with pytest.raises(CaegenError) as info:
        caegen.train(spec, epochs=1, batch_size=8, limit=1, out=tmp_path)
    assert _code(info) == "E063" and "lower train.batch_size" not in info.value.diagnostics[0].hint
    assert not (tmp_path / "huge").exists()


def test_a_model_that_fits_no_image_is_refused_before_any_data_is_read(tmp_path):
    missing = tmp_path / "no-such-folder"  # reading it first would be a data error
    spec = huge_spec(f"{{source: folder, path: '{missing}'}}")
    with pytest.raises(CaegenError) as info:
        caegen.train(spec, epochs=1, out=tmp_path)
    assert _code(info) == "E063" and "at any batch size" in info.value.diagnostics[0].hint


def test_folder_source_never_reads_the_run_output(tmp_path, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    spec = caegen.loads(
        "name: f\ninput: [8, 8, 1]\nencoder:\n  - {type: conv2d, filters: 2, kernel_size: 3, "
        "strides: 2}\ndecoder:\n  - {type: conv2d_transpose, filters: 1, kernel_size: 3, "
        "strides: 2}\ndata: {source: folder, path: .}\n"
    )
    first = caegen.train(spec, epochs=1, batch_size=4, out="runs")
    assert (first.run_dir / "loss.png").exists()
    second = caegen.train(spec, epochs=1, batch_size=4, out="runs")
    assert second.metrics["train_images"] == first.metrics["train_images"] == 10


def test_folder_images_of_any_channel_count_are_converted(tmp_path):
    from PIL import Image

    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    (folder / "real").mkdir(parents=True)
    modes = [("RGB", "bmp"), ("P", "gif"), ("RGB", "jpg"), ("LA", "png"), ("RGBA", "png")]
    for i in range(10):
        mode, suffix = modes[i % len(modes)]
        pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).convert(mode).save(folder / "real" / f"{i}.{suffix}")
    (folder / "linked").symlink_to(folder / "real")  # followed once, not twice
    for channels in (1, 3, 4):
        spec = caegen.loads(
            f"name: f\ninput: [8, 8, {channels}]\nencoder:\n  - {{type: conv2d, filters: 2, "
            "kernel_size: 3, strides: 2}\ndecoder:\n  - {type: conv2d_transpose, filters: "
            f"{channels}, kernel_size: 3, strides: 2}}\n"
            f"data: {{source: folder, path: '{folder}'}}\n"
        )
        splits = load_data(spec, output_root=tmp_path / "runs")
        decoded = [
            evaluation_arrays(split, spec, seed=0)[0] for split in (splits.train, splits.test)
        ]
        assert sum(len(x) for x in decoded) == 10  # each file once, the symlink not followed twice
        for x in decoded:  # every mode decoded and converted by the training pipeline itself
            assert x.shape[1:] == (8, 8, channels) and x.min() >= 0.0 and x.max() <= 1.0


def test_disk_full_while_checkpointing(tmp_path, monkeypatch):
    from caegen.training import rundir

    calls = {"n": 0}
    real = rundir.fsync_file

    def full_on_second_checkpoint(path):
        if path.name == ".last.tmp.keras":
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path)

    monkeypatch.setattr(rundir, "fsync_file", full_on_second_checkpoint)
    with pytest.raises(CaegenError) as info:
        train(caegen.load(SPECS / "quickstart.yaml"), tmp_path, 3)
    (d,) = info.value.diagnostics
    assert d.code == "E057" and "No space left on device" in d.message
    (run,) = (tmp_path / "quickstart").iterdir()
    assert not (run / "checkpoints" / ".last.tmp.keras").exists()
    status = Run(run).status()
    assert (status.state, status.epoch) == ("failed", 1) and "E057" in status.reason
    assert Run(run).checkpoint().epoch == 1  # the good checkpoint stayed intact


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seed", "4294967296"], "4294967296"),
        (["--batch-size", "99999999999999999999"], "99999999999999999999"),
    ],
)
def test_out_of_range_numbers_are_refused_before_anything_is_written(tmp_path, args, expected):
    result = _cli("train", str(SPECS / "quickstart.yaml"), "--out", str(tmp_path), *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert not any(tmp_path.iterdir())


def test_an_image_damaged_after_training_is_named_on_export(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(folder / f"{i:02}.png")
    spec = caegen.loads(
        "name: f\ninput: [8, 8, 1]\nencoder:\n  - {type: conv2d, filters: 2, kernel_size: 3, "
        "strides: 2}\ndecoder:\n  - {type: conv2d_transpose, filters: 1, kernel_size: 3, "
        f"strides: 2}}\ndata: {{source: folder, path: '{folder}'}}\n"
    )
    result = caegen.train(spec, epochs=1, batch_size=4, out=tmp_path / "runs")
    damaged = folder / "10.png"  # a test image (every tenth file)
    damaged.write_bytes(damaged.read_bytes()[:60])
    with pytest.raises(CaegenError) as info:
        caegen.export_onnx(result.run_dir, tmp_path / "m.onnx")
    (d,) = info.value.diagnostics
    assert d.code == "E053" and str(damaged) in d.message and "could not be decoded" in d.message


def test_a_missing_run_lists_the_runs_that_exist(finished, tmp_path):
    with pytest.raises(CaegenError) as info:
        Run.find(finished.run_dir.parent.parent / "quickstrat")
    (d,) = info.value.diagnostics
    assert d.code == "E052" and "quickstart" in d.hint
    (finished.run_dir.parent.parent / "not-a-run").mkdir()  # a folder without runs: unlisted
    with pytest.raises(CaegenError) as info:
        Run.find(finished.run_dir.parent.parent / "quickstrat")
    assert "not-a-run" not in info.value.diagnostics[0].hint


def test_dry_run_resolves_everything_and_writes_nothing(tmp_path):
    result = _cli(
        "train",
        str(SPECS / "quickstart.yaml"),
        "--dry-run",
        "--out",
        str(tmp_path),
        "--batch-size",
        "5000",
        "--limit",
        "100",
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert lines["strategy"] == "one device" and lines["replicas"] == "1"
    assert lines["global_batch"] == "100" and lines["per_replica_batch"] == "100"
    assert lines["train_images"] == "100" and lines["steps_per_epoch"] == "1"
    assert "larger than the 100 training images" in result.stdout + result.stderr
    assert not any(tmp_path.iterdir())
