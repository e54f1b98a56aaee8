"""`caegen train SPEC --local-workers N`: a multi-worker job on this machine.

It starts N `caegen train` processes, each with a free localhost port and its own
TF_CONFIG (exactly what a cluster launcher sets), so the workers run the same code as on
several machines. The chief's output is shown as it comes; the others' is kept and shown
if they fail. Ctrl-C is passed to every worker (they stop together at the next step). If
a worker dies, the others cannot go on (their collectives would wait for it): they are
stopped, and running the same command again continues from the last finished epoch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRACE_S = 10.0
"""How long stopped workers get to finish their step before they are killed."""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(n: int) -> list[str]:
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(n)]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(n)
    ]


def launch(train_args: list[str], workers: int) -> int:
    """Run the job; the chief's exit code (0 done, 130 interrupted, 1 an error)."""
    logs = Path(tempfile.mkdtemp(prefix="caegen-workers-"))
    procs: list[subprocess.Popen[bytes]] = []
    for index, config in enumerate(tf_configs(workers)):
        env = {**os.environ, "TF_CONFIG": config, "PYTHONUNBUFFERED": "1"}
        chief = index == 0
        log = None if chief else (logs / f"worker{index}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "caegen",
                    "train",
                    *train_args,
                    "--strategy",
                    "multi-worker",
                ],
                env=env,
                stdout=None if chief else subprocess.DEVNULL,
                # sys.stderr, not descriptor 2: the CLI points 2 at /dev/null (native logs)
                stderr=sys.stderr.fileno() if chief else log,
                start_new_session=True,  # Ctrl-C reaches them through this process, once
            )
        )
        if log is not None:
            log.close()  # the worker has its own copy of the descriptor
    interrupted = False

    def forward(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward)
    try:
        while any(p.poll() is None for p in procs):
            dead = [i for i, p in enumerate(procs) if p.poll() not in (None, 0)]
            if dead and not interrupted:
                _stop(procs)
                _report(dead, procs, logs)
                break
            time.sleep(0.2)
    finally:
        signal.signal(signal.SIGINT, previous)
    for p in procs:
        p.wait()
    try:
        return _exit_code(procs, interrupted, logs)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _exit_code(procs: list[subprocess.Popen[bytes]], interrupted: bool, logs: Path) -> int:
    code = procs[0].returncode
    if code == 0 and any(p.returncode != 0 for p in procs[1:]):
        _report([i for i, p in enumerate(procs) if p.returncode != 0], procs, logs)
        return 1
    return 130 if interrupted and code != 0 else (code if code >= 0 else 1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.1)
    for p in procs:
        if p.poll() is None:
            p.kill()  # waiting in a collective for the dead worker: it cannot stop itself


def _report(dead: list[int], procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    for i in dead:
        code = procs[i].returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
        tail = ""
        log = logs / f"worker{i}.log"
        if log.exists():
            lines = log.read_text(errors="replace").strip().splitlines()
            errors = [line for line in lines if " error: " in line]  # a caegen diagnostic
            tail = f": {(errors or lines)[-1].strip()}" if lines else ""
        print(
            f"worker {i} {how}{tail}; the job was stopped. Run the same command again to "
            "continue from the last finished epoch.",
            file=sys.stderr,
        )
