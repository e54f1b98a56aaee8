"""Files a user names, opened and read so that every way they can fail is a diagnostic.

A path on the command line may name anything: a folder, a FIFO with no writer (which
would block a plain `open` forever), `/dev/zero` (endless), a file without read
permission, a name too long for the file system, bytes that are not UTF-8. Each is E001
naming the path and the reason (and, for text that does not decode, the line and column
of the first bad byte); nothing here raises a bare OSError or UnicodeDecodeError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from caegen.core.diagnostics import CaegenError, Diagnostic, Location
from caegen.core.fsutil import os_error_reason

MAX_TEXT_BYTES = 64 * 2**20
"""A spec of 10,000 layers is under 1 MiB; anything past this is not a spec."""


def _unreadable(path: Path, what: str, reason: str, hint: str) -> CaegenError:
    return CaegenError(
        [Diagnostic("E001", f"cannot read the {what} {path}: {reason}", Location(str(path)), hint)]
    )


def open_input(path: str | Path, what: str = "spec file", hint: str = "pass a file") -> BinaryIO:
    """The file at `path`, open for reading in binary mode.

    A FIFO (a shell's `<(...)`) is read as it comes; one that nobody writes to reads as
    empty instead of blocking. Folders, devices and sockets are refused.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _unreadable(path, what, "no such file", hint) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        reason = os_error_reason(exc) if isinstance(exc, OSError) else "the name has a NUL byte"
        raise _unreadable(path, what, reason, hint) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _unreadable(path, what, "it is a folder", hint)
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise _unreadable(path, what, "not a regular file (a device or a socket)", hint)
        os.set_blocking(fd, True)  # a FIFO with a writer: wait for what it writes
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input_bytes(
    path: str | Path,
    what: str = "spec file",
    hint: str = "pass a file",
    limit: int = MAX_TEXT_BYTES,
) -> bytes:
    """At most `limit` bytes of the file; a larger one is refused (E001)."""
    with open_input(path, what, hint) as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:  # e.g. EIO, or EISDIR on odd file systems
            raise _unreadable(Path(path), what, os_error_reason(exc), hint) from None
    if len(data) > limit:
        raise _unreadable(
            Path(path), what, f"it is larger than {limit // 2**20} MiB", "pass the right file"
        )
    return data


def decode_text(data: bytes, file: str, what: str = "spec file") -> str:
    """UTF-8 text, or E001 at the line and column of the first byte that does not decode."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise CaegenError(
            [
                Diagnostic(
                    "E001",
                    f"the {what} {file} is not UTF-8 text: byte 0x{data[exc.start]:02x} at "
                    f"line {line}, column {column} does not decode",
                    Location(file, line, column),
                    "save the file as UTF-8",
                )
            ]
        ) from None


def read_input_text(
    path: str | Path,
    what: str = "spec file",
    hint: str = "pass a file",
    limit: int = MAX_TEXT_BYTES,
) -> str:
    """The file's text (UTF-8), read once: see `open_input` and `decode_text`."""
    return decode_text(read_input_bytes(path, what, hint, limit), str(path), what)
