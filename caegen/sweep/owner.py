"""Who works a sweep's point, and whether that process still lives: a lock, not a pid.

Each process that works a sweep holds an exclusive lock (flock) on its own file in the
sweep folder's `locks/` for as long as it lives; the trial table records the owner's id,
which names that file. The kernel drops the lock when the process ends however it ends
(Ctrl-C, kill -9, a restarted container whose new process has the same pid), so a point
is orphaned exactly when nobody holds its owner's lock. An owner on another machine whose
lock file this one cannot see (a folder that is not shared) cannot be judged from here:
it counts as live.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: liveness falls back to the pid
    fcntl = None  # type: ignore[assignment]

LOCKS = "locks"
LIVE, DEAD, ELSEWHERE = "live", "dead", "elsewhere"


class Owner:
    """This process as a worker of the sweep in `folder`, holding its lock."""

    def __init__(self, folder: Path) -> None:
        token = secrets.token_hex(6)
        self.id = f"{os.getpid()}@{socket.gethostname()}#{token}"
        self.path = folder / LOCKS / f"{token}.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: ours
        os.write(self._fd, f"{self.id}\n".encode())

    def release(self) -> None:
        """Let go of the lock and remove its file (the process is done with the sweep)."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def owner_state(folder: Path, owner: str | None) -> str:
    """LIVE, DEAD or ELSEWHERE (another machine's process this one cannot see)."""
    if not owner or "@" not in owner:
        return DEAD
    pid, _, rest = owner.partition("@")
    host, _, token = rest.partition("#")
    if not token:  # recorded by an older caegen: only its pid is known
        return _pid_state(pid, host)
    try:
        fd = os.open(folder / LOCKS / f"{token}.lock", os.O_RDWR)
    except FileNotFoundError:
        return DEAD if host == socket.gethostname() else ELSEWHERE
    except OSError:
        return ELSEWHERE
    try:
        if fcntl is None:
            return _pid_state(pid, host)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return LIVE  # its owner holds the lock
        fcntl.flock(fd, fcntl.LOCK_UN)
        return DEAD
    finally:
        os.close(fd)


def _pid_state(pid: str, host: str) -> str:
    """An older caegen's owner (no lock): its pid, unless that pid is this very process
    (a restarted container numbers its processes from 1 again)."""
    if host != socket.gethostname():
        return ELSEWHERE
    if pid == str(os.getpid()):
        return DEAD
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return DEAD
    except (PermissionError, ValueError):
        return LIVE
    return LIVE
