"""`caegen train SPEC --local-workers N`: a multi-worker job on this machine.

It starts N `caegen train` processes, each with a free localhost port and its own
TF_CONFIG (exactly what a cluster launcher sets), so the workers run the same code as on
several machines. The chief's output is shown as it comes; the others' is kept and shown
if they fail. Ctrl-C and SIGTERM are passed to every worker (they stop together at the next
step; any still running 10 seconds later is killed). If
a worker dies, the others cannot go on (their collectives would wait for it): after a few
seconds in which they may end on their own (an error such as a NaN loss reaches all of
them), they are stopped, and running the same command again continues from the last
finished epoch.
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

SETTLE_S = 5.0
"""How long the others get to end on their own after a worker exits with an error: a
NaN loss or an error in a collective reaches every worker at the same step, and the
chief, still writing the run's status, must not be mistaken for a worker to stop."""
GRACE_S = 10.0
"""How long stopped workers get to finish their step before they are killed (after a
worker failed, or after Ctrl-C or SIGTERM reached the job)."""


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
    """Run the job; its exit code (0 done, 130 interrupted, 1 an error)."""
    command = [sys.executable, "-m", "caegen", "train", *train_args, "--strategy", "multi-worker"]
    return supervise([command] * workers, tf_configs(workers))


def supervise(commands: list[list[str]], configs: list[str]) -> int:
    """Start one process per command with its TF_CONFIG, the first being the chief."""
    logs = Path(tempfile.mkdtemp(prefix="caegen-workers-"))
    procs: list[subprocess.Popen[bytes]] = []
    for index, (command, config) in enumerate(zip(commands, configs, strict=True)):
        env = {**os.environ, "TF_CONFIG": config, "PYTHONUNBUFFERED": "1"}
        chief = index == 0
        log = None if chief else (logs / f"worker{index}.log").open("wb")
        procs.append(
            subprocess.Popen(
                command,
                env=env,
                stdout=None if chief else subprocess.DEVNULL,
                # sys.stderr, not descriptor 2: the CLI points 2 at /dev/null (native logs)
                stderr=sys.stderr.fileno() if chief else log,
                start_new_session=True,  # Ctrl-C reaches them through this process, once
            )
        )
        if log is not None:
            log.close()  # the worker has its own copy of the descriptor
    received: list[int] = []
    stop_by = [float("inf")]

    def forward(signum: int, frame: object) -> None:
        """Ctrl-C or SIGTERM: passed on to every worker; those still running GRACE_S later
        (or at a second signal) are killed, whatever their peers do."""
        stop_by[0] = time.monotonic() + (GRACE_S if not received else 0.0)
        received.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while any(p.poll() is None for p in procs):
            if not received and any(p.poll() not in (None, 0) for p in procs):
                _stop(procs)
                break
            if time.monotonic() > stop_by[0]:
                _kill(procs)
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for p in procs:
        p.wait()
    try:
        if not received:
            _report(_unexplained_failures(procs), procs, logs)
        code = _exit_code(procs, bool(received))
        return 128 + received[0] if code == 130 and received else code
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _failed_on_its_own(chief: subprocess.Popen[bytes]) -> bool:
    return chief.returncode is not None and chief.returncode > 0 and chief.returncode != 130


def _unexplained_failures(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    """The workers whose failure the user must be told of: those killed by a signal (they
    leave no message), and those that exited with an error unless the chief printed its
    own (the same NaN or the lost collective, seen from the chief)."""
    failed = [i for i, p in enumerate(procs) if i > 0 and p.returncode not in (0, 130)]
    if _failed_on_its_own(procs[0]):
        return [i for i in failed if procs[i].returncode < 0]
    return failed


def _exit_code(procs: list[subprocess.Popen[bytes]], interrupted: bool) -> int:
    """130 only for the user's Ctrl-C; a job stopped because a worker failed is an error."""
    code = procs[0].returncode
    if all(p.returncode == 0 for p in procs):
        return 0
    if interrupted:
        return 0 if code == 0 else 130  # the chief may have finished as Ctrl-C came
    if code == 130 and all(p.returncode in (0, 130) for p in procs[1:]):
        return 130  # a worker was interrupted on its own, and the job stopped with it
    return code if _failed_on_its_own(procs[0]) else 1


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    _wait(procs, SETTLE_S)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    _wait(procs, GRACE_S)
    _kill(procs)  # waiting in a collective for the dead worker: it cannot stop itself


def _kill(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()


def _wait(procs: list[subprocess.Popen[bytes]], seconds: float) -> None:
    """Until every process has ended, or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.1)


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
