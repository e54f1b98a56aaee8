"""Multi-worker processes end on Ctrl-C and SIGTERM whatever their peers do, and a busy
port is its own error: real processes, real sockets, a peer that never starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from caegen.training.distribute import Cluster
from caegen.training.launcher import tf_configs
from caegen.training.rendezvous import meet
from tests.conftest import ROOT, SPECS

QUICKSTART = SPECS / "quickstart.yaml"


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**clean, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def cluster_of(config: str, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("TF_CONFIG", config)
    cluster = Cluster.from_env()
    assert cluster is not None
    return cluster


def test_the_tasks_meet_before_tensorflow_and_strangers_do_not_count(monkeypatch):
    configs = tf_configs(3)
    clusters = [cluster_of(c, monkeypatch) for c in configs]
    done: list[int] = []

    def run(cluster: Cluster) -> None:
        meet(cluster.tasks, cluster.index)
        done.append(cluster.index)

    chief = threading.Thread(target=run, args=(clusters[0],), daemon=True)
    chief.start()
    host, port = clusters[0].address
    time.sleep(0.3)
    with socket.create_connection((host, port), timeout=2) as stranger:  # not a task
        stranger.sendall(b"GET / HTTP/1.0\r\n\r\n")
    workers = [threading.Thread(target=run, args=(c,), daemon=True) for c in clusters[1:2]]
    for w in workers:
        w.start()
    time.sleep(1.0)
    assert done == []  # worker 2 has not come: nobody goes
    late = threading.Thread(target=run, args=(clusters[2],), daemon=True)
    late.start()
    for t in (chief, *workers, late):
        t.join(timeout=10)
    assert sorted(done) == [0, 1, 2]


def test_a_port_in_use_is_its_own_error_naming_the_port(tmp_path):
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = {
            "cluster": {"worker": [f"localhost:{port}", "localhost:1"]},
            "task": {"type": "worker", "index": 0},
        }
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "caegen", "train", str(QUICKSTART), "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env(TF_CONFIG=json.dumps(config)),
            timeout=120,
        )
    assert done.returncode == 1 and "E078" in done.stderr and f"port {port}" in done.stderr
    assert "E062" not in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 30 and not any(tmp_path.iterdir())  # before any work


def waiting(stderr: Path, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Until the process says it waits for its peers (it is then past TensorFlow's import)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "waiting for" in stderr.read_text(errors="replace"):
            return
        assert proc.poll() is None, stderr.read_text(errors="replace")
        time.sleep(0.1)
    raise TimeoutError(stderr.read_text(errors="replace"))


def ended_within(proc: subprocess.Popen[bytes], seconds: float) -> float:
    started = time.monotonic()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {seconds} s after the signal") from None
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.keras
def test_a_worker_whose_peer_never_starts_ends_on_ctrl_c_and_the_job_on_sigterm(tmp_path):
    """Worker 0 alone (its peer never starts) gets Ctrl-C; a launched job whose second
    worker never joins gets SIGTERM. Both end within seconds (before: over 11 minutes)."""
    train = [sys.executable, "-m", "caegen", "train", str(QUICKSTART), "--epochs", "1"]
    alone_err = tmp_path / "alone.err"
    alone = subprocess.Popen(
        [*train, "--out", str(tmp_path / "alone")],
        env=env(TF_CONFIG=tf_configs(2)[0]),
        stdout=subprocess.DEVNULL,
        stderr=alone_err.open("wb"),
        start_new_session=True,
    )
    job_err = tmp_path / "job.err"
    never = [sys.executable, "-c", "import time; time.sleep(600)"]  # holds no port, ever
    launch = (
        "import sys\nfrom caegen.training.launcher import supervise, tf_configs\n"
        f"sys.exit(supervise([{[*train, '--out', str(tmp_path / 'job')]!r}, {never!r}], "
        "tf_configs(2)))\n"
    )
    job = subprocess.Popen(
        [sys.executable, "-c", launch],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=job_err.open("wb"),
        start_new_session=True,
    )
    waiting(alone_err, alone)
    waiting(job_err, job)
    children = [
        int(c) for c in Path(f"/proc/{job.pid}/task/{job.pid}/children").read_text().split()
    ]
    alone.send_signal(signal.SIGINT)
    job.send_signal(signal.SIGTERM)
    assert ended_within(alone, 10) < 5 and alone.returncode == 130
    assert ended_within(job, 20) < 10 and job.returncode == 143
    for pid in children:  # the launcher's workers are gone too
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    for err in (alone_err, job_err):
        text = err.read_text(errors="replace")
        assert "Traceback" not in text and "interrupted" in text, text
