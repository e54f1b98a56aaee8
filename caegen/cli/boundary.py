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

What an exception becomes is caegen.cli.failures' (shared with `caegen check`'s fast
start); the guarded streams are caegen.cli.streams'. Diagnostics are `Styled` text, never
markup, so a path or a value that contains `[bold]` or `[/]` is printed as written.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from caegen.cli.failures import USAGE, exit_code, handled, report, run_guarded
from caegen.core.diagnostics import CaegenError, Diagnostic, Location
from caegen.core.fsutil import output_problem


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


def _usage(exc: TyperException) -> int:
    """A malformed command line: the parser's message as E077 (click's help for no args)."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # typer printed the help already
        return USAGE
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "caegen"
    # typer passes pydantic-style conversion messages on: "Value error, 'xml' is not one of"
    message = exc.format_message().replace("Value error, ", "")
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

    # typer writes the type of every option in its help, `<bool>` for a switch too (`--fix`,
    # `--strict`, `--help`), which reads as if it took a value; an empty metavar leaves the
    # type column of a switch blank.
    def get_params(self, ctx: Any) -> list[Any]:
        return _as_flags(super().get_params(ctx))

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is not None and not getattr(command, "_caegen_flags", False):
            get_params = command.get_params
            inputs = {p for p, role in path_roles(command.callback).items() if role is Input}
            command.get_params = lambda ctx: _read_by_caegen(_as_flags(get_params(ctx)), inputs)
            command._caegen_flags = True
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if _passes_through(exc):
                raise
            raise typer.Exit(code=handled(exc)) from None

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        # typer turns Ctrl-C while the command line is parsed into a silent exit 130
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise typer.Exit(code=handled(exc)) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = run_guarded(lambda: self._run(args, prog_name, complete_var, **extra))
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
            return handled(KeyboardInterrupt())
        except SystemExit as exc:
            return exit_code(exc)
        except BaseException as exc:
            if isinstance(exc, typer.Exit):
                return exc.exit_code
            return handled(exc)
        return result if isinstance(result, int) else 0


def _read_by_caegen(params: list[Any], inputs: set[str]) -> list[Any]:
    """Input paths are checked by the reader of each (E001 naming the file, with a hint, as
    for a missing one), not by typer's `readable` test, which refused the whole command
    line for one file without read permission (E077, no location)."""
    for param in params:
        if param.name not in inputs:
            continue
        # where typer keeps the test: the parameter's info (typer >= 0.2x) or its click type
        descriptor = getattr(param, "type_descriptor", None)
        for holder in (getattr(descriptor, "parameter_info", None), getattr(param, "type", None)):
            if holder is not None and hasattr(holder, "readable"):
                holder.readable = False
    return params


def _as_flags(params: list[Any]) -> list[Any]:
    """Switches shown as flags in `--help`: no `<bool>` after them."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params
