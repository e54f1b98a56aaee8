"""The one boundary every command goes through: whatever a command raises, the user gets a
coded diagnostic and a non-zero exit, never a Python traceback.

`CaegenGroup` is the typer app's group class, so every command (those of today and any
added later) runs inside `CaegenGroup.invoke`, and the command line itself is parsed
inside `CaegenGroup.main`. Each command is a `CaegenCommand` (`CaegenTyper.command` makes
it so), whose path parameters declare a `PathRole`: its output paths are checked before
it runs (E057), its inputs are read through `caegen.core.inputs` (E001). Then:

- `CaegenError`: its diagnostics (exit 1);
- an `OSError` that escaped a command: E075 naming the file and the reason;
- standard output that fails (closed, a full disk, a reader gone): E076 on stderr;
- a malformed command line: E077 with the parser's message (exit 2, as before);
- Ctrl-C: `interrupted` (exit 130);
- anything else is a bug: E079 naming the exception and where it was raised
  (`CAEGEN_TRACEBACK=1` lets the traceback through).

Diagnostics are rendered as rich `Text`, never as markup, so a path or a value that
contains `[bold]` or `[/]` is printed as written.
"""

from __future__ import annotations

import errno
import inspect
import io
import os
import sys
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from caegen.core.diagnostics import CaegenError, Diagnostic, Location, internal_error
from caegen.core.fsutil import os_error_reason, output_problem

INTERRUPTED = 130
USAGE = 2


class PathRole(str, Enum):
    """What a command does with a path it is given: declared on the parameter,
    `Annotated[Path, typer.Option(...), OutputFolder]`. Outputs are checked before the
    command runs (E057); inputs are read through `caegen.core.inputs` (E001), run and
    sweep folders through their own readers."""

    INPUT = "input"
    OUTPUT_FILE = "output file"
    OUTPUT_FOLDER = "output folder"


Input = PathRole.INPUT
OutputFile = PathRole.OUTPUT_FILE
OutputFolder = PathRole.OUTPUT_FOLDER


def path_roles(callback: Any) -> dict[str, PathRole]:
    """{parameter: role} of a command's function (Path parameters carry one)."""
    hints = typing.get_type_hints(inspect.unwrap(callback), include_extras=True)
    return {
        name: role
        for name, hint in hints.items()
        for role in getattr(hint, "__metadata__", ())
        if isinstance(role, PathRole)
    }


def check_outputs(callback: Any, params: dict[str, Any]) -> None:
    """E057 for every output path that cannot be written, before the command runs."""
    problems = []
    for name, role in path_roles(callback).items():
        value = params.get(name)
        if role is PathRole.INPUT or value is None:
            continue
        problem = output_problem(Path(value), folder=role is PathRole.OUTPUT_FOLDER)
        if problem is not None:
            option = "--" + name.rstrip("_").replace("_", "-")
            problems.append(
                Diagnostic(
                    "E057",
                    f"cannot write the {role.value} {value}: {problem}",
                    Location(str(value)),
                    f"pass another {option if name != 'path' else 'PATH'}",
                )
            )
    if problems:
        raise CaegenError(problems)


class CaegenCommand(TyperCommand):
    """Every command: its output paths are checked before it runs (see `PathRole`)."""

    def invoke(self, ctx: Any) -> Any:
        check_outputs(self.callback, ctx.params)
        return super().invoke(ctx)


class CaegenTyper(typer.Typer):
    """The app: each command it registers is a `CaegenCommand` inside a `CaegenGroup`."""

    def command(self, name: str | None = None, *, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or CaegenCommand, **kwargs)


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
    from caegen.cli.consoles import err_console
    from caegen.cli.render import print_diagnostic

    for d in diagnostics:
        print_diagnostic(err_console, d)


def _usage(exc: TyperException) -> int:
    """A malformed command line: the parser's message as E077 (click's help for no args)."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # typer printed the help already
        return USAGE
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "caegen"
    message = exc.format_message()
    report(
        [
            Diagnostic(
                "E077",
                message[0].lower() + message[1:] if message else "invalid command line",
                Location(),
                f"see `{command} --help`",
            )
        ]
    )
    return int(getattr(exc, "exit_code", USAGE))


def _passes_through(exc: BaseException) -> bool:
    return isinstance(exc, (typer.Exit, typer.Abort, TyperException, SystemExit))


class CaegenGroup(TyperGroup):
    """The typer app's group: see the module's docstring."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if _passes_through(exc):
                raise
            raise typer.Exit(code=_handled(exc)) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        with guarded_streams() as (out, err):
            code = self._run(args, prog_name, complete_var, **extra)
            if out.failure is None:
                try:
                    out.flush()
                except OutputStreamError as exc:
                    code = max(code, _handled(exc))
            if out.failure is not None and code == 0:
                code = _handled(out.error())  # the command swallowed its own failure
            if err.failure is not None and code == 0:
                code = 1  # a message could not be shown
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self, args: Sequence[str] | None, prog_name: str | None, complete_var: str | None, **extra
    ) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except TyperException as exc:
            return _usage(exc)
        except typer.Abort:
            return _handled(KeyboardInterrupt())
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            if isinstance(exc, typer.Exit):
                return exc.exit_code
            return _handled(exc)
        return result if isinstance(result, int) else 0


def _handled(exc: BaseException) -> int:
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
