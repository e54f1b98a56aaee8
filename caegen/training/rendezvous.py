"""Before a multi-worker job starts TensorFlow: every task meets the chief, in Python.

Creating MultiWorkerMirroredStrategy blocks until every task of the cluster is up, inside
TensorFlow's C++ runtime and holding Python's GIL: Ctrl-C and SIGTERM are not handled
while it waits, so a worker whose peer never starts could not be stopped (it waited for
over ten minutes in a test). Here the tasks meet first over plain sockets, polled with
short timeouts, so a signal stops the wait at once; TensorFlow is started only when every
task is there, and its own wait is then a matter of seconds.

The protocol: the chief listens on its own address (its port is free again before
TensorFlow binds it); each other task connects and says `caegen-rendezvous INDEX
TASKS`; when all have, the chief answers `go` to each, and each closes its connection
(so no TIME_WAIT is left on the chief's port). A task that cannot bind its own port is
E078 naming the port.

SIGTERM (what a cluster manager sends) stops a worker as Ctrl-C does: TensorFlow's
multi-worker runtime installs a SIGTERM handler of its own that keeps the process running,
so `stop_on_sigterm` is installed again after the strategy exists.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import sys
import threading
import time
from typing import Any

from caegen.core.diagnostics import Location, error

POLL_S = 0.2
"""How often a waiting task looks again (and so how soon it sees a signal at the latest)."""
HELLO = "caegen-rendezvous"


def split_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port" ("[::1]:port" for IPv6); ValueError if it is not one."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(address)
    return host.strip("[]"), int(port)


def bind_port(port: int) -> socket.socket:
    """A socket bound to `port` on every interface, or E078 when another process has it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("", port))
    except OSError as exc:
        server.close()
        if exc.errno != errno.EADDRINUSE:
            raise
        raise error(
            "E078",
            f"port {port}, this worker's address in TF_CONFIG, is in use by another process",
            f"stop the process that holds port {port} (`ss -ltnp 'sport = :{port}'` shows it), "
            "or give this worker a free port in TF_CONFIG (`--local-workers` picks free ports)",
            Location("TF_CONFIG", path="cluster"),
        ) from None
    return server


def stop_on_sigterm() -> None:
    """SIGTERM does what Ctrl-C does at that moment (the training loop's handler stops at
    the next batch; elsewhere it raises KeyboardInterrupt)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _as_interrupt)


def _as_interrupt(signum: int, frame: Any) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a job started in the background): stop anyway
        raise KeyboardInterrupt


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def meet(tasks: tuple[str, ...], index: int) -> None:
    """Return once every task ("host:port", the chief first) has reached this point; this
    process is task `index` (see the module)."""
    if len(tasks) < 2:
        return
    if index == 0:
        _gather(tasks)
    else:
        bind_port(split_address(tasks[index])[1]).close()  # E078 if another process has it
        _join(tasks, index)


def _gather(tasks: tuple[str, ...]) -> None:
    """The chief: wait for every other task, then tell each to go."""
    others = len(tasks) - 1
    server = bind_port(split_address(tasks[0])[1])
    server.listen(others + 4)
    server.settimeout(POLL_S)
    joined: dict[int, socket.socket] = {}
    _say(f"waiting for {others} worker(s) of the job to join at {tasks[0]} (Ctrl-C stops)")
    try:
        while len(_alive(joined)) < others:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            index = _hello(conn, len(tasks))
            if index is None:
                conn.close()  # not one of this job's tasks
                continue
            old = joined.pop(index, None)
            if old is not None:
                old.close()  # the same task again (it was restarted)
            joined[index] = conn
        _release(joined)
    finally:
        for conn in joined.values():
            conn.close()
        server.close()


def _hello(conn: socket.socket, tasks: int) -> int | None:
    conn.settimeout(2.0)
    try:
        words = conn.recv(64).decode("ascii", "replace").split()
    except OSError:
        return None
    if len(words) != 3 or words[0] != HELLO or not all(w.isdigit() for w in words[1:]):
        return None
    index, count = int(words[1]), int(words[2])
    return index if count == tasks and 0 < index < tasks else None


def _alive(joined: dict[int, socket.socket]) -> dict[int, socket.socket]:
    """Drop the connections whose task has gone away since it joined."""
    for index, conn in list(joined.items()):
        conn.settimeout(0)  # a peek that does not wait
        try:
            gone = conn.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            gone = False  # open, nothing to read: still there
        except OSError:
            gone = True
        if gone:
            conn.close()
            del joined[index]
    return joined


def _release(joined: dict[int, socket.socket]) -> None:
    """`go` to every task; then wait (briefly) for each to close first."""
    for conn in joined.values():
        with contextlib.suppress(OSError):
            conn.sendall(b"go\n")
    deadline = time.monotonic() + 2.0
    for conn in joined.values():
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            conn.recv(16)


def _join(tasks: tuple[str, ...], index: int) -> None:
    """A worker: connect to the chief until it says go."""
    host, port = split_address(tasks[0])
    hello = f"{HELLO} {index} {len(tasks)}\n".encode()
    said = False
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=1.0)
        except OSError:
            if not said:
                _say(f"waiting for the job's chief at {tasks[0]} (Ctrl-C stops)")
                said = True
            time.sleep(POLL_S)
            continue
        with conn:
            if _told_to_go(conn, hello):
                return
        time.sleep(POLL_S)


def _told_to_go(conn: socket.socket, hello: bytes) -> bool:
    """Say hello and wait for `go`; False when the connection ends first."""
    try:
        conn.sendall(hello)
        conn.settimeout(POLL_S)
        while True:
            try:
                answer = conn.recv(16)
            except TimeoutError:
                continue
            return answer.startswith(b"go")
    except OSError:
        return False
