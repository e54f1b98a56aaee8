"""`caegen check`'s fast start: it loads no command-line library, prints byte for byte what
the typer command prints, and hands every other command line to typer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from caegen.cli.check_start import CheckLine, read_check_line
from tests.conftest import ROOT, SPECS

OK, WARNED, BROKEN = (
    str(SPECS / name)
    for name in ("quickstart.yaml", "cifar10_method2.yaml", "cifar10_method1_bug.yaml")
)
COLOUR = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")
FAST = [sys.executable, "-m", "caegen", "check"]
TYPER = [
    sys.executable,
    "-c",
    "import sys; sys.argv[0] = 'caegen'; from caegen.cli import main; main()",
    "check",
]


def _run(command: list[str], env: dict[str, str] | None = None, **kwargs):
    return subprocess.run(
        command,
        capture_output=True,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in COLOUR}, **(env or {})},
        timeout=120,
        **kwargs,
    )


def _modules_loaded(args: list[str]) -> set[str]:
    """Every module a cold `python -m caegen check ARGS` imports (`-X importtime`)."""
    err = _run([sys.executable, "-X", "importtime", "-m", "caegen", "check", *args]).stderr
    lines = err.decode().splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def test_the_fast_start_loads_no_command_line_library():
    fast = {m.split(".")[0] for m in _modules_loaded(["--no-table", WARNED, BROKEN])}
    assert not fast & {"typer", "click", "rich", "tensorflow", "keras", "onnx"}, sorted(fast)
    assert "caegen" in fast
    handed_back = {m.split(".")[0] for m in _modules_loaded(["--help"])}
    assert {"typer", "rich"} <= handed_back  # the test sees them when they load


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ([OK], None),
        ([WARNED, "--strict"], None),
        ([BROKEN], None),
        (["missing.yaml", OK], None),
        (["specs"], None),
        (["-f", "json", OK, BROKEN], None),
        (["--format=json", "--strict", WARNED], None),
        (["--no-table", "--ignore", "W103", WARNED], None),
        (["--select=w1", "--no-table", WARNED], None),
        (["--table", "--no-strict", "--strict", "--ignore=", OK], None),
        (["--ignore", "W1O3,E040", "--select=X", OK], None),
        ([BROKEN, WARNED], {"FORCE_COLOR": "1"}),
        ([BROKEN], {"FORCE_COLOR": "1", "NO_COLOR": "1"}),
        ([OK], {"FORCE_COLOR": "1", "TERM": "dumb"}),
    ],
    ids=lambda value: " ".join(Path(v).name for v in value) if isinstance(value, list) else None,
)
def test_the_fast_start_prints_what_the_typer_command_prints(args, env):
    fast, typer = _run(FAST + args, env), _run(TYPER + args, env)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        typer.returncode,
        typer.stdout,
        typer.stderr,
    )
    assert fast.stdout or fast.stderr  # something was checked


def test_a_code_no_warning_has_is_a_usage_error_before_any_check():
    """`--ignore W1O3` (a letter O) left every finding in, silently."""
    for args in (["--ignore", "W1O3"], ["--ignore=E040"], ["--select", "X1"]):
        result = _run([*FAST, *args, WARNED])
        assert result.returncode == 2 and result.stdout == b"", args
        assert b"E077" in result.stderr and b"W103" in result.stderr  # the hint lists them
    fixed = _run([*FAST[:-1], "check", "--diff", "--ignore", "W1O3", WARNED])
    assert fixed.returncode == 2 and fixed.stdout == b""  # and no fix is worked out with it


def test_colour_comes_as_rich_would_give_it():
    plain = _run([*FAST, BROKEN]).stdout.decode()
    coloured = _run([*FAST, BROKEN], {"FORCE_COLOR": "1"}).stdout.decode()
    assert "\x1b[" not in plain
    assert "\x1b[1;31mE040 error\x1b[0m" in coloured  # bold red, as before
    attributes_only = _run([*FAST, BROKEN], {"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert "\x1b[1mE040 error\x1b[0m" in attributes_only.decode()


def test_a_closed_standard_output_is_reported_alike():
    def closed(command: list[str]) -> subprocess.CompletedProcess:
        return _run([*command, OK], stdout=None, preexec_fn=lambda: os.close(1))

    fast, typer = closed(FAST), closed(TYPER)
    assert fast.returncode == typer.returncode == 1
    assert fast.stderr == typer.stderr and b"E076" in fast.stderr


def test_command_lines_it_does_not_take_go_to_typer():
    helped = _run([*FAST, "--help"])
    assert helped.returncode == 0 and b"Usage" in helped.stdout
    assert _run([*FAST, "-h"]).stdout == helped.stdout  # -h is --help, as users expect
    wrong = _run([*FAST, "--format", "JSON", OK])
    assert wrong.returncode == 2 and b"E077" in wrong.stderr and b"JSON" in wrong.stderr
    assert b"Value error" not in wrong.stderr  # typer's conversion wording, left out
    nothing = _run(FAST)
    assert nothing.returncode == 2 and b"E077" in nothing.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["a.yaml"], CheckLine([Path("a.yaml")])),
        (["-f", "json", "a", "b"], CheckLine([Path("a"), Path("b")], format="json")),
        (["a", "--format=json", "--strict"], CheckLine([Path("a")], format="json", strict=True)),
        (["--no-table", "--table", "a"], CheckLine([Path("a")])),
        (["--ignore", "W103,I108", "a"], CheckLine([Path("a")], ignore="W103,I108")),
        (["--select=", "a"], CheckLine([Path("a")], select="")),
        (["a=b.yaml"], CheckLine([Path("a=b.yaml")])),
    ],
)
def test_command_lines_it_takes(args, line):
    assert read_check_line(args) == line


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["a", "--fix"],
        ["a", "--diff"],
        ["a", "--unsafe-fixes"],
        ["--", "a"],
        ["-", "a"],
        ["-fjson", "a"],
        ["-f=json", "a"],
        ["--format", "JSON", "a"],
        ["--format", "yaml", "a"],
        ["--form", "json", "a"],
        ["a", "--ignore"],
        ["--ignore", "--strict", "a"],
        ["--strict=yes", "a"],
        ["--no-strict"],
    ],
)
def test_command_lines_it_hands_back(args):
    assert read_check_line(args) is None


def test_ctrl_c_while_starting_up_is_no_traceback(monkeypatch, capsys):
    """Before a command's boundary is in place (importing its modules), Ctrl-C still ends
    caegen with `interrupted` and 130, as it does inside a command."""
    import caegen.__main__ as entry

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(entry, "_start", interrupted)
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 130 and capsys.readouterr().err == "interrupted\n"


def _in_process(args: list[str], typer_command: bool) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `caegen check ARGS` run in this process, by the fast
    start's reader and checker or by the typer command."""
    import io

    from caegen.cli.check_start import _check
    from caegen.cli.failures import run_guarded

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        if typer_command:
            import typer

            from caegen.cli import app

            group = typer.main.get_command(app)
            code = group.main(args=["check", *args], prog_name="caegen", standalone_mode=False)
        else:
            line = read_check_line(args)
            assert line is not None
            code = run_guarded(lambda: _check(line))
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


def test_a_spec_without_read_permission_is_one_spec_s_error(tmp_path, monkeypatch):
    """click's `readable` check refused the whole command line for one file it may not read
    (E077, exit 2, no spec checked) where the fast start reports E001 for that file and
    checks the others, as it does for a missing one; both now read it the second way."""
    locked = tmp_path / "locked.yaml"
    locked.write_text(Path(OK).read_text())
    locked.chmod(0)
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # as for a user other than root
        if Path(path) == locked and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    args = ["--no-table", str(locked), WARNED]
    fast, typer = _in_process(args, typer_command=False), _in_process(args, typer_command=True)
    assert fast == typer
    assert typer[0] != 2 and "E077" not in typer[2]
    assert f"{WARNED}:" in typer[1]  # the other spec was checked


def test_the_api_s_names_are_listed_before_they_are_imported():
    """`import caegen` imports its API on first use (for the fast starts); `dir(caegen)`,
    which completion in a shell or an editor lists, still names all of it."""
    shown = _run(
        [
            sys.executable,
            "-c",
            "import sys, caegen; names = dir(caegen); "
            "print(sorted(set(caegen.__all__) - set(names)), 'caegen.spec.loader' in sys.modules)",
        ]
    )
    assert shown.stdout.decode().split() == ["[]", "False"], shown.stderr.decode()


def test_caegen_run_inside_another_program_leaves_it_running():
    """IPython's `%run -m caegen check ...` (runpy, with sys.argv set) runs caegen inside
    the kernel: the fast start's os._exit ended the kernel with it; the typer command
    raises SystemExit, and the program goes on."""
    host = (
        "import runpy, sys\n"
        f"sys.argv = ['caegen', 'check', '--no-table', {OK!r}]\n"
        "try:\n"
        "    runpy.run_module('caegen', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    print('the host goes on after exit', exc.code)\n"
    )
    ran = _run([sys.executable, "-c", host])
    assert ran.stdout.decode().endswith("the host goes on after exit 0\n"), ran
