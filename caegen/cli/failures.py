"""What an exception that reaches a command's boundary becomes: coded diagnostics on
standard error and an exit code (see caegen.cli.boundary; `caegen check`'s fast start,
caegen.cli.check_start, goes through the same)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from contextlib import suppress

from caegen.cli.streams import OutputStreamError, guarded_streams
from caegen.core.diagnostics import CaegenError, Diagnostic, Location, internal_error
from caegen.core.fsutil import os_error_reason

INTERRUPTED = 130
USAGE = 2


def _os_error(exc: OSError) -> Diagnostic:
    name = exc.filename if exc.filename not in (None, "") else None
    reason = os_error_reason(exc)
    hints = {
        errno.ENOSPC: "free disk space, or pass a path on another disk",
        errno.EACCES: "check the permissions of the path, or pass another one",
        errno.EPERM: "check the permissions of the path, or pass another one",
        errno.EROFS: "pass a path on a writable file system",
        errno.ENAMETOOLONG: "use a shorter name",
        errno.EISDIR: "pass a file, not a folder",
        errno.ENOTDIR: "pass a folder, not a file (or move the file out of the way)",
        errno.ELOOP: "the path's symbolic links form a loop: fix them",
    }
    what = f"cannot use {name}: {reason}" if name else f"an operating-system error: {reason}"
    return Diagnostic(
        "E075", what, Location(str(name) if name else None), hints.get(exc.errno, "check the path")
    )


def diagnose(exc: BaseException) -> tuple[list[Diagnostic], int]:
    """The diagnostics and the exit code for an exception that reached the boundary."""
    if isinstance(exc, CaegenError):
        return exc.diagnostics, 1
    if isinstance(exc, MemoryError):
        return [
            Diagnostic(
                "E063",
                "caegen ran out of memory",
                Location(),
                "give it more memory, or a smaller input (fewer points, codes or layers)",
            )
        ], 1
    if isinstance(exc, OSError):
        return [_os_error(exc)], 1
    return [internal_error(exc)], 1


def report(diagnostics: list[Diagnostic]) -> None:
    from caegen.cli.render import diagnostic_texts
    from caegen.cli.terminal import stderr

    for text in diagnostic_texts(diagnostics):
        stderr.print(text)


def handled(exc: BaseException) -> int:
    """Report an exception at the boundary; the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        with suppress(Exception):
            sys.stderr.write("interrupted\n")
        return INTERRUPTED
    if os.environ.get("CAEGEN_TRACEBACK") and not isinstance(exc, CaegenError):
        raise exc
    diagnostics, code = diagnose(exc)
    with suppress(OutputStreamError):
        report(diagnostics)
    return code


def exit_code(exc: SystemExit) -> int:
    """The code a `SystemExit` leaves with, as Python itself would exit."""
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def run_guarded(command: Callable[[], int]) -> int:
    """Run a command (which reports its own exceptions: see `handled`) with its output
    streams guarded; its exit code, or E076's when standard output failed."""
    with guarded_streams() as (out, err):
        code = command()
        if out.failure is None:
            try:
                out.flush()
            except OutputStreamError as exc:
                code = max(code, handled(exc))
        if out.failure is not None and code == 0:
            code = handled(out.error())  # the command swallowed its own failure
        if err.failure is not None and code == 0:
            code = 1  # a message could not be shown
    return code
