"""`caegen check` without typer, click or rich: the command people run most starts in about
two thirds of the time the full command line takes (bench/check_latency.py).

Only a command line this module reads exactly as typer would is taken: spec paths and
`--format/-f`, `--strict/--no-strict`, `--table/--no-table`, `--ignore`, `--select`, in
any order. Anything else (`--help`, the fixes, `--`, a value that looks like an option, a
mistake) goes to the typer command, whose help and messages are the ones users know, and
so does a command line that is not the process's own (caegen run inside another program,
which the fast start's os._exit would end). Both print through caegen.cli.checker, inside
the same boundary (caegen.cli.failures).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

SWITCHES = {
    "--strict": ("strict", True),
    "--no-strict": ("strict", False),
    "--table": ("table", True),
    "--no-table": ("table", False),
}
VALUED = {"--format": "format", "-f": "format", "--ignore": "ignore", "--select": "select"}
FORMATS = ("text", "json")


@dataclass
class CheckLine:
    """A `caegen check` command line, read."""

    specs: list[Path] = field(default_factory=list)
    format: str = "text"
    strict: bool = False
    table: bool = True
    ignore: str | None = None
    select: str | None = None


def read_check_line(args: list[str]) -> CheckLine | None:
    """The command line after `check`; None when it is for the typer command."""
    line = CheckLine()
    rest = iter(args)
    for arg in rest:
        if arg in SWITCHES:
            name, value = SWITCHES[arg]
            setattr(line, name, value)
            continue
        option, equals, value = arg.partition("=")
        if option.startswith("--") and equals and option in VALUED:
            setattr(line, VALUED[option], value)
        elif arg in VALUED:
            value = next(rest, None)
            if value is None or value.startswith("-"):
                return None
            setattr(line, VALUED[arg], value)
        elif arg.startswith("-"):
            return None
        else:
            line.specs.append(Path(arg))
    if not line.specs or line.format not in FORMATS:
        return None
    return line


def start(args: list[str]) -> None:
    """Check and exit when the command line is one this module takes; return otherwise."""
    if "_CAEGEN_COMPLETE" in os.environ:  # shell completion is typer's
        return
    if not _the_process_s_own(["check", *args]):
        return
    line = read_check_line(args)
    if line is None:
        return
    # As the typer command line's main does: no pydantic plugin scan, SIGPIPE as `cat`.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # A short process that builds ~60 pydantic models and ~300 modules' worth of objects
    # and keeps them to the end: the cycle collector would only walk them, over and over
    # (about 7 ms; a 10,000-layer spec checks in 1.5 s instead of 3.6), and the
    # interpreter's teardown would free them one by one (about 20 ms).
    gc.disable()
    from caegen.cli.failures import run_guarded

    code = run_guarded(lambda: _check(line))
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a failure was reported already (E076), or cannot be
            stream.flush()
    os._exit(code)


def _the_process_s_own(args: list[str]) -> bool:
    """Whether the command line is the one the process was started with, not one a program
    set in sys.argv to run caegen inside itself (IPython's `%run -m caegen`, runpy, a test):
    the fast start ends with os._exit, which would end that program too, where the typer
    command raises SystemExit."""
    started = getattr(sys, "orig_argv", None)
    return started is None or started[len(started) - len(args) :] == args


def _check(line: CheckLine) -> int:
    from caegen.cli.checker import check_files
    from caegen.cli.failures import exit_code, handled

    try:
        return check_files(
            line.specs,
            json_format=line.format == "json",
            strict=line.strict,
            table=line.table,
            ignore=line.ignore,
            select=line.select,
        )
    except SystemExit as exc:  # the boundary: as caegen.cli.boundary's
        return exit_code(exc)
    except BaseException as exc:
        return handled(exc)
