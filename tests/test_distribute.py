"""Training under tf.distribute on a CPU: two workers on localhost (by hand with two
TF_CONFIGs, and through --local-workers), a worker killed and the job continued, and
MirroredStrategy across two logical CPU devices. Each worker is a real process."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caegen.training.launcher import supervise, tf_configs
from tests.conftest import ROOT, SPECS

pytestmark = [pytest.mark.keras, pytest.mark.slow]

QUICKSTART = SPECS / "quickstart.yaml"
TOLERANCE = 1e-4
"""Relative: the workers sum the same global batch's parts in another order than one
process does, so the losses agree to float32 rounding, not bit for bit."""


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**clean, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def history(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def only_run(out: Path) -> Path:
    (run_dir,) = (out / "quickstart").iterdir()
    return run_dir


def script(code: str, *args: str) -> dict:
    """Run Python code in a fresh process (TensorFlow configured from scratch); the JSON
    line it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def single_process_run(spec: Path, epochs: int, out: Path) -> dict:
    code = (
        "import sys, json, caegen\n"
        f"r = caegen.train(caegen.load({str(spec)!r}), epochs={epochs}, out=sys.argv[1])\n"
        "print(json.dumps({'losses': [row['loss'] for row in r.history],\n"
        "                  'val_losses': [row['val_loss'] for row in r.history]}))\n"
    )
    return script(code, str(out))


WORKER = """
import json, sys
import caegen
from caegen.training.trainer import train
r = train(caegen.load(sys.argv[1]), epochs=int(sys.argv[2]), out=sys.argv[3])
print(json.dumps({"run_dir": str(r.run_dir), "weights": r.weights_sha256,
                  "losses": [row["loss"] for row in r.history],
                  "val_losses": [row["val_loss"] for row in r.history],
                  "metrics": bool(r.metrics)}))
"""


def with_batch_norm(folder: Path) -> Path:
    spec = folder / "quickstart.yaml"
    spec.write_text(
        QUICKSTART.read_text().replace(
            "  - {type: max_pool2d, pool_size: 2}\n",
            "  - {type: batch_norm}\n  - {type: max_pool2d, pool_size: 2}\n",
            1,
        )
    )
    return spec


def run_two_workers(spec: Path, epochs: int, cwd: Path) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(spec), str(epochs), str(cwd / "runs")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(TF_CONFIG=config),
            cwd=cwd,
        )
        for config in tf_configs(2)
    ]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-2000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def test_two_workers_by_hand_match_one_process_and_end_with_identical_weights(
    tmp_path, tmp_path_factory
):
    out = tmp_path / "runs"
    chief, other = run_two_workers(QUICKSTART, 3, tmp_path)
    assert chief["weights"] == other["weights"]  # all workers end with the same weights
    assert chief["metrics"] and not other["metrics"]  # scored once, by the chief
    run_dir = Path(chief["run_dir"])
    assert run_dir == only_run(out)  # the chief's run is the only one written
    assert not Path(other["run_dir"]).exists()  # the other's scratch directory is gone
    assert json.loads((run_dir / "metrics.json").read_text())["workers"] == 2
    assert chief["losses"] == other["losses"]
    single = single_process_run(QUICKSTART, 3, tmp_path_factory.mktemp("single"))
    assert chief["losses"] == pytest.approx(single["losses"], rel=TOLERANCE)
    assert chief["val_losses"] == pytest.approx(single["val_losses"], rel=TOLERANCE)


def test_workers_with_batch_norm_end_with_identical_weights(tmp_path):
    """Their moving statistics too: each worker's are averaged over all replicas. The
    chief then recomputes them over the whole training split, as one process would."""
    import keras

    import caegen
    from caegen.training.data import load_data
    from tests.batchnorm_reference import assert_settled

    spec = with_batch_norm(tmp_path)
    chief, other = run_two_workers(spec, 2, tmp_path)
    assert chief["weights"] == other["weights"]
    run_dir = Path(chief["run_dir"])
    record = json.loads((run_dir / "metrics.json").read_text())["batch_norm_recalibration"]
    train = load_data(caegen.load(spec)).train.array
    assert record["applied"] and record["train_images"] == len(train) == 1438
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True, compile=False)
    assert assert_settled(model, train) == 1


def launcher(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "caegen", "train", str(QUICKSTART), *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=cwd
    )


def workers_of(pid: int) -> dict[int, int]:
    """{worker index: pid} of the launcher's children, from their TF_CONFIG."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            for entry in environ:
                if entry.startswith(b"TF_CONFIG="):
                    found[json.loads(entry[10:])["task"]["index"]] = int(child)
    return found


def wait_for_epochs(out: Path, epochs: int) -> None:
    """Until the job's run has checkpointed `epochs` epochs (its history says so)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = list((out / "quickstart").glob("*/history.csv"))
        if runs and len(history(runs[0].parent)) >= epochs:
            return
        time.sleep(0.05)
    raise TimeoutError(f"no {epochs} epochs in {out}")


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the workers through /proc")
def test_a_killed_worker_stops_the_job_and_the_same_command_completes_it(tmp_path):
    args = ["--epochs", "12", "--limit", "320", "--local-workers", "2"]
    job = launcher(args, tmp_path)
    wait_for_epochs(tmp_path / "runs", 2)
    os.kill(workers_of(job.pid)[1], signal.SIGKILL)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode != 0 and "worker 1 was killed by signal 9" in stderr
    run_dir = only_run(tmp_path / "runs")
    done = len(history(run_dir))
    assert 2 <= done < 12, "the job finished before the worker was killed"

    again = launcher(args, tmp_path)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr[-2000:]
    assert only_run(tmp_path / "runs") == run_dir  # continued, not started over
    assert f"epoch {done + 1:>3}/12" in stdout and f"epoch {done:>3}/12" not in stdout
    epochs = [int(row["epoch"]) for row in history(run_dir)]
    assert epochs == list(range(1, 13))  # each epoch exactly once
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"
    # and the job ended as any run does, scored and written by the chief
    assert "test PSNR" in stdout and "wrote runs/quickstart/" in stdout
    for name in ("model.keras", "encoder.keras", "metrics.json", "reconstructions.png"):
        assert (run_dir / name).exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["strategy"] == "multi-worker" and metrics["replicas"] == 2


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import caegen
from caegen.training.trainer import train
text = open(sys.argv[1]).read()
r = train(caegen.loads(text), epochs=2, out=sys.argv[2], strategy=sys.argv[3])
import keras
model = keras.saving.load_model(str(r.run_dir / "model.keras"))
bn = [l for l in model.layers if type(l).__name__ == "BatchNormalization"][0]
print(json.dumps({"losses": [row["loss"] for row in r.history], "metrics": r.metrics,
                  "moving_mean": [float(v) for v in bn.moving_mean.numpy()],
                  "checkpoint": (r.run_dir / "checkpoints" / "last.keras").exists()}))
"""


def test_mirrored_across_two_logical_cpus_trains_and_checkpoints(tmp_path):
    spec = with_batch_norm(tmp_path)
    results = {}
    for strategy in ("mirrored", "one"):
        results[strategy] = script(MIRRORED, str(spec), str(tmp_path / strategy), strategy)
    mirrored, one = results["mirrored"], results["one"]
    assert mirrored["metrics"]["strategy"] == "mirrored" and mirrored["metrics"]["replicas"] == 2
    assert mirrored["checkpoint"]
    # batch norm normalizes by each replica's half batch (Keras's default, synchronized=False),
    # and caegen averages its moving statistics over the replicas: close to one device
    assert mirrored["losses"] == pytest.approx(one["losses"], rel=0.05)
    assert mirrored["moving_mean"] == pytest.approx(one["moving_mean"], rel=0.05, abs=1e-3)
    assert any(abs(v) > 1e-3 for v in mirrored["moving_mean"])  # updated from its start, 0


def test_dry_run_shows_the_multi_worker_plan(tmp_path):
    config = tf_configs(2)[1]
    done = subprocess.run(
        [sys.executable, "-m", "caegen", "train", str(QUICKSTART), "--dry-run"],
        capture_output=True,
        text=True,
        env=env(TF_CONFIG=config),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(None, 1) for line in done.stdout.strip().splitlines())
    assert lines["strategy"] == "multi-worker" and lines["workers"] == "2"
    assert lines["replicas"] == "2" and lines["global_batch"] == "64"
    assert lines["per_replica_batch"] == "32" and lines["worker_index"] == "1"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("tf_config", "extra_args", "words"),
    [
        (None, [], "needs TF_CONFIG"),
        ("{not json", [], "not a cluster description"),
        ("cluster", ["--resume", "runs/quickstart"], "does not combine with a multi-worker job"),
    ],
)
def test_multi_worker_without_a_usable_cluster_is_a_clear_error(
    tmp_path, tf_config, extra_args, words
):
    if tf_config == "cluster":
        tf_config = tf_configs(2)[0]
    extra = {} if tf_config is None else {"TF_CONFIG": tf_config}
    cmd = [sys.executable, "-m", "caegen", "train", str(QUICKSTART), "--strategy", "multi-worker"]
    done = subprocess.run(
        [*cmd, *extra_args],
        capture_output=True,
        text=True,
        env=env(**extra),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1 and "E068" in done.stderr and words in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/proc").exists(), reason="waits on the run's files")
def test_ctrl_c_stops_every_worker_at_the_same_step(tmp_path):
    job = launcher(["--epochs", "12", "--limit", "320", "--local-workers", "2"], tmp_path)
    wait_for_epochs(tmp_path / "runs", 2)
    job.send_signal(signal.SIGINT)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 130 and "run the same command to continue" in stderr
    status = json.loads((only_run(tmp_path / "runs") / "status.json").read_text())
    assert status["state"] == "interrupted" and status["epoch"] >= 2


def test_a_diverging_job_stops_on_every_worker(tmp_path):
    spec = tmp_path / "quickstart.yaml"
    spec.write_text(QUICKSTART.read_text().replace("learning_rate: 0.002", "learning_rate: 1.0e+9"))
    cmd = [sys.executable, "-m", "caegen", "train", str(spec), "--epochs", "3"]
    job = subprocess.run(
        [*cmd, "--local-workers", "2"], capture_output=True, text=True, env=env(), cwd=tmp_path
    )
    assert job.returncode == 1 and "E055" in job.stderr and "Traceback" not in job.stderr
    status = json.loads((only_run(tmp_path / "runs") / "status.json").read_text())
    assert status["state"] == "diverged"


STOPS_ON_CTRL_C = (
    "import signal, sys, time\nsignal.signal(signal.SIGINT, lambda *_: sys.exit(130))\n"
)
"""The start of a stand-in chief that, like caegen, exits 130 on SIGINT."""


def supervised(*programs: str) -> int:
    """The launcher's exit code over Python programs standing in for the workers."""
    return supervise([[sys.executable, "-c", p] for p in programs], tf_configs(len(programs)))


def test_a_chief_failing_just_after_a_worker_is_not_taken_for_an_interrupted_one(capfd):
    """A NaN reaches every worker at the same step; the chief, still writing the run's
    status, ends a moment after the others and must not be stopped as if it hung."""
    chief = (
        STOPS_ON_CTRL_C + "time.sleep(1.0)\n"
        "print('error: E055 the loss became NaN', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    assert supervised(chief, "import sys; sys.exit(1)") == 1
    stderr = capfd.readouterr().err
    assert "E055" in stderr and "worker 1" not in stderr  # the chief's own message says why


def test_a_worker_that_dies_stops_a_chief_that_would_wait_for_it(capfd):
    hung = STOPS_ON_CTRL_C + "time.sleep(60)\n"
    died = "import sys; print('worker error: E999 out of memory', file=sys.stderr); sys.exit(3)"
    started = time.monotonic()
    assert supervised(hung, died) == 1
    assert time.monotonic() - started < 30
    assert "worker 1 exited 3: worker error: E999 out of memory" in capfd.readouterr().err


def test_a_worker_failing_after_the_chief_finished_is_reported_once(capfd):
    late = (
        "import sys, time\ntime.sleep(1.0)\n"
        "print('caegen: E999 error: disk full', file=sys.stderr)\nsys.exit(1)\n"
    )
    assert supervised("import sys; sys.exit(0)", late) == 1
    assert capfd.readouterr().err.count("worker 1 exited 1: caegen: E999 error: disk full") == 1


@pytest.mark.parametrize("source", ["digits", "folder"])
def test_the_replicas_parts_of_each_batch_are_the_single_process_batch(source, tmp_path):
    """Images and noise: cut by index before reading (a worker decodes only its part)."""
    import numpy as np
    from PIL import Image

    import caegen
    from caegen.training.data import load_data
    from caegen.training.pipeline import Shard, training_dataset

    data = "{source: digits, noise: {stddev: 0.2}}"
    if source == "folder":
        rng = np.random.default_rng(0)
        for i in range(50):
            pixels = rng.integers(0, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / f"{i:02d}.png")
        data = f"{{source: folder, path: '{tmp_path}', noise: {{stddev: 0.2}}}}"
    text = QUICKSTART.read_text()
    text = text[: text.index("data:")] + f"data: {data}\n"
    spec = caegen.loads(text)
    splits = load_data(spec, output_root=tmp_path / "runs")
    whole = list(training_dataset(splits.train, spec, 16, 0, 0, 2).as_numpy_iterator())
    parts = [
        list(training_dataset(splits.train, spec, 16, 0, 0, 2, Shard(i, 1, 3)).as_numpy_iterator())
        for i in range(3)
    ]
    shard = Shard(0, 1, 3)
    assert all(len(p) == 2 * shard.steps(len(splits.train), 16) for p in parts)
    kept = [b for b in whole if len(b[0]) >= 3]  # a last batch of 1 or 2 images is left out
    for k, (x, y) in enumerate(kept):
        assert np.array_equal(np.concatenate([p[k][0] for p in parts]), x)
        assert np.array_equal(np.concatenate([p[k][1] for p in parts]), y)


REPLICA_STATE = """
import json
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from caegen.training.distribute import average_replica_state
strategy = tf.distribute.MirroredStrategy(devices=["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.BatchNormalization(momentum=0.0), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
x = np.array([[0.0], [10.0]], np.float32)  # one image per replica: batch means 0 and 10
model.fit(x, x, batch_size=2, epochs=1, verbose=0, shuffle=False)
def per_replica():
    mean = model.layers[0].moving_mean.value
    return [float(t.numpy()[0]) for t in strategy.experimental_local_results(mean)]
before = per_replica()
average_replica_state(strategy, model)
print(json.dumps({"before": before, "after": per_replica()}))
"""


def test_batch_norm_statistics_are_averaged_over_the_replicas():
    """Keras 3 keeps them per replica (a saved model would hold the first's alone)."""
    result = script(REPLICA_STATE)
    assert result["before"] == [0.0, 10.0]  # what Keras leaves: each replica its own
    assert result["after"] == [5.0, 5.0]
