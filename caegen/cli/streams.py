"""Standard output and standard error while a command runs: a write that fails (a closed
stream, a full disk, a reader gone) becomes E076 once, never a traceback at exit."""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from caegen.core.diagnostics import CaegenError, Diagnostic, Location


class OutputStreamError(CaegenError):
    """Standard output cannot be written (E076)."""


class GuardedStream:
    """`sys.stdout` or `sys.stderr` while a command runs.

    A write that fails (no stream at all, a closed one, a full disk, a reader that went
    away) raises `OutputStreamError` once, for stdout; later writes are dropped. The real
    stream is pointed at /dev/null then, so that Python's own flush at exit does not fail
    a second time. Text the stream's encoding cannot hold (a file name's undecodable
    bytes) is written with backslash escapes instead of failing.
    """

    def __init__(self, inner: Any, name: str, raises: bool) -> None:
        self.inner = inner
        self.name = name
        self.raises = raises
        self.failure: str | None = None

    def write(self, text: str) -> int:
        if self.failure is None:
            self._call(self._write, text)
        return len(text)

    def flush(self) -> None:
        # a stream the command closed itself (the language server's, at exit) is done
        if self.failure is None and self.inner is not None and not _closed(self.inner):
            self._call(self.inner.flush)

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def isatty(self) -> bool:
        try:
            return self.inner is not None and bool(self.inner.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.inner is None:
            raise io.UnsupportedOperation(f"{self.name} is closed")
        return int(self.inner.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _write(self, text: str) -> None:
        if self.inner is None:
            raise OSError(errno.EBADF, "it is closed")
        try:
            self.inner.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self.inner, "encoding", None) or "utf-8"
            self.inner.write(text.encode(encoding, "backslashreplace").decode(encoding))

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except (OSError, ValueError) as exc:  # ValueError: "I/O operation on closed file"
            self.failure = _stream_reason(exc)
            _silence(self.inner)
            if self.raises:
                raise self.error() from None

    def error(self) -> OutputStreamError:
        return OutputStreamError(
            [
                Diagnostic(
                    "E076",
                    f"cannot write to {self.name}: {self.failure}",
                    Location(),
                    "send the output somewhere writable (a file on a disk with space, or a "
                    "pipe whose reader stays)",
                )
            ]
        )


def _closed(stream: Any) -> bool:
    try:
        return bool(stream.closed)
    except (AttributeError, ValueError):
        return False


def _stream_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        if exc.errno == errno.EPIPE:
            return "its reader went away (broken pipe)"
        if exc.errno == errno.EBADF:
            return "it is closed"
        return exc.strerror or str(exc)
    return "it is closed"


def _silence(stream: Any) -> None:
    """Point a real stream's descriptor at /dev/null (what is left in its buffer goes there)."""
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (AttributeError, OSError, ValueError):
        return
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)


@contextmanager
def guarded_streams() -> Iterator[tuple[GuardedStream, GuardedStream]]:
    """Install the guards on sys.stdout and sys.stderr (whatever they are: a terminal, a
    test's capture, None when the descriptor was closed) and take them off afterwards."""
    saved = sys.stdout, sys.stderr
    out = GuardedStream(sys.stdout, "standard output", raises=True)
    err = GuardedStream(sys.stderr, "standard error", raises=False)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = out.inner or saved[0], err.inner or saved[1]


def real_stream(stream: Any) -> Any:
    """The stream a guard wraps (or the stream itself)."""
    return stream.inner if isinstance(stream, GuardedStream) else stream
