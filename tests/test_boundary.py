"""No command raises a traceback on any input: every command of `caegen --help`, found
from the typer app itself (a command added later is driven too), gets generated bad inputs
of each class and must answer with a coded diagnostic and a non-zero exit.

Classes: each path a command reads (missing, a folder, a FIFO nobody writes, a device, a
name too long, a path through a file, a symlink loop, bytes that are not UTF-8, a name with
rich markup), each path it writes (a file where a folder belongs and the reverse, a
device, a path through a file, a name too long), its free-text options (markup, brackets,
undecodable bytes), the environment (TF_CONFIG), and its output streams (closed, a full
disk, a reader that went away). The commands run in process, through the same group and
streams as the console script (no TensorFlow is imported: each case fails before any
model would be built).
"""

from __future__ import annotations

import errno
import inspect
import io
import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.core import TyperArgument

import caegen
from caegen.cli import app
from caegen.cli.boundary import CaegenCommand, CaegenGroup, PathRole, path_roles
from caegen.training.rundir import Run
from tests.conftest import SPECS

GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]
CODED = re.compile(r"\bE0\d\d\b")


class Failing(io.TextIOBase):
    """A stream whose writes fail as a full disk or a departed reader makes them fail."""

    def __init__(self, code: int) -> None:
        self.code = code

    def write(self, text: str) -> int:
        raise OSError(self.code, os.strerror(self.code))

    @property
    def encoding(self) -> str:
        return "utf-8"


def run_cli(
    argv: list[str], stdout: Any = "capture", stderr: Any = "capture", env: dict | None = None
) -> tuple[int, str]:
    """(exit code, what stdout and stderr received), run as the console script runs it."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr, dict(os.environ)
    sys.stdout = out if stdout == "capture" else stdout
    sys.stderr = err if stderr == "capture" else stderr
    os.environ.update(env or {})
    try:
        code = GROUP.main(args=argv, prog_name="caegen", standalone_mode=False)
    finally:
        sys.stdout, sys.stderr = saved[0], saved[1]
        os.environ.clear()
        os.environ.update(saved[2])
    return code, out.getvalue() + err.getvalue()


def assert_coded_failure(argv: list[str], **streams: Any) -> str:
    code, output = run_cli(argv, **streams)
    shown = f"caegen {' '.join(argv)}\n{output}"
    assert "Traceback" not in output, shown
    assert code not in (0, None), shown
    assert CODED.search(output), shown
    assert "E079" not in output, shown  # a bug is not an answer to a user's mistake
    return output


# --- the inputs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Valid inputs for every command, and bad ones of every class."""
    root = tmp_path_factory.mktemp("boundary")
    spec = root / "quickstart.yaml"
    spec.write_text((SPECS / "quickstart.yaml").read_text())
    run = Run.create(root / "runs", caegen.load(spec))  # a finished run, without models
    run.write_history([{"epoch": 1, "loss": 0.5, "val_loss": 0.5}])
    run.write_metrics({"psnr": 20.0, "mse": 0.01, "epochs": 1, "test_images": 8})
    run.mark("finished", 1)
    run.release()
    codes = root / "codes.npy"
    np.save(codes, np.zeros((2, 4, 4, 8), np.float32))
    space = root / "space.yaml"
    space.write_text("encoder[0].filters: [4, 8]\n")
    afile = root / "a-file.txt"
    afile.write_text("in the way\n")
    fifo = root / "fifo.yaml"
    os.mkfifo(fifo)
    loop = root / "loop"
    loop.symlink_to(loop)
    latin1 = root / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    markup = root / "[bold]marked [red]x.yaml"
    markup.write_text("'[bold]key[/]': [/]\n")
    bad_in = {
        "missing": root / "missing.yaml",
        "a folder": root,
        "a FIFO with no writer": fifo,
        "a device": Path("/dev/zero"),
        "a name too long": root / ("n" * 300),
        "a path through a file": afile / "x.yaml",
        "a symlink loop": loop,
        "not UTF-8": latin1,
        "rich markup in the name and text": markup,
    }
    if os.geteuid() != 0:  # root reads any file
        locked = root / "locked.yaml"
        locked.write_text("name: x\n")
        locked.chmod(0)
        bad_in["no read permission"] = locked
    bad_out = {
        "a path through a file": afile / "sub",
        "a name too long": root / ("n" * 300),
        "a symlink loop": loop,
        # not a regular file: outputs are replaced, and replacing a device (/dev/full, as
        # root) would break the machine; a FIFO of the test's own stands for one
        "a FIFO": fifo,
    }
    return {
        "root": root,
        "spec": spec,
        "run": run.path,
        "codes": codes,
        "space": space,
        "afile": afile,
        "bad_in": bad_in,
        "bad_out_folder": {**bad_out, "a file": afile},
        "bad_out_file": {**bad_out, "a folder": root},
    }


def base_values(command: str, w: dict[str, Any]) -> dict[str, Any]:
    """Valid values for a command's parameters, each failing or finishing fast. A command
    added to caegen must be added here, so that it is driven too."""
    out = w["root"] / "out"
    table: dict[str, dict[str, Any]] = {
        "check": {"specs": [w["spec"]]},
        "summary": {"spec_path": w["spec"]},
        "train": {"spec_path": w["spec"], "out": out, "epochs": "1"},
        "export": {"source": w["run"], "onnx": True},
        "init": {"template": "quickstart", "out": out / "new.yaml"},
        "schema": {"out": out / "schema.json"},
        "sweep": {"spec_path": w["spec"], "set_": ["encoder[0].filters=2"], "out": out},
        "compare": {"sources": [w["run"]]},
        "sample": {"source": w["run"], "latent": w["codes"], "out": out},
        "score": {"source": w["run"], "images": [w["codes"]], "out": out},
        "inspect": {"source": w["run"], "out": out},
        "lsp": {},
    }
    assert command in table, f"`caegen {command}` is new: give it valid values here"
    return dict(table[command])


def argv_for(command: str, values: dict[str, Any]) -> list[str]:
    """The command line of `values`, laid out by the command's own parameters."""
    cmd = GROUP.commands[command]  # type: ignore[attr-defined]
    argv = [command]
    for param in cmd.params:
        if param.name not in values:
            continue
        value = values[param.name]
        items = value if isinstance(value, list) else [value]
        if isinstance(param, TyperArgument):
            argv += [str(v) for v in items]
        elif value is True:
            argv.append(param.opts[0])
        else:
            for item in items:
                argv += [param.opts[0], str(item)]
    return argv


def cases(world: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """(what, argv) for every command and every class of bad path."""
    for command in COMMANDS:
        cmd = GROUP.commands[command]  # type: ignore[attr-defined]
        for param, role in path_roles(cmd.callback).items():
            bad = {
                PathRole.INPUT: world["bad_in"],
                PathRole.OUTPUT_FILE: world["bad_out_file"],
                PathRole.OUTPUT_FOLDER: world["bad_out_folder"],
            }[role]
            for what, path in bad.items():
                values = base_values(command, world)
                many = isinstance(values.get(param), list)
                values[param] = [path] if many else path
                yield f"{command} {param}: {what}", argv_for(command, values)


# --- the tests -------------------------------------------------------------------------------
def test_every_command_goes_through_the_boundary_and_declares_its_paths():
    assert isinstance(GROUP, CaegenGroup)
    assert {"check", "summary", "train", "export", "sweep", "compare", "sample"} <= set(COMMANDS)
    for name in COMMANDS:
        cmd = GROUP.commands[name]  # type: ignore[attr-defined]
        assert isinstance(cmd, CaegenCommand), name
        hints = typing.get_type_hints(inspect.unwrap(cmd.callback))
        paths = {param for param, hint in hints.items() if "Path" in str(hint)}
        assert paths == set(path_roles(cmd.callback)), f"{name}: declare each path's PathRole"


def test_every_bad_path_of_every_command_is_a_coded_error(world):
    seen: dict[str, set[str]] = {}
    for what, argv in cases(world):
        assert_coded_failure(argv)
        seen.setdefault(argv[0], set()).add(what.split(": ")[1])
    with_paths = {c for c in COMMANDS if path_roles(GROUP.commands[c].callback)}  # type: ignore[attr-defined]
    assert set(seen) == with_paths
    assert all(len(classes) >= 4 for classes in seen.values()), seen


def test_an_input_without_read_permission_is_left_to_caegen_s_reader(world, monkeypatch):
    """typer's own `readable` test refused the whole command line for an input the user may
    not read (E077, exit 2, no location); every command leaves it to caegen's reader (E001
    naming the file, as for a missing one). Root reads every file, so the test denies this
    one where typer asks (os.access)."""
    locked = world["root"] / "unreadable.yaml"
    locked.write_text("[not, a, mapping]\n")  # no command gets far with it
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if Path(path) == locked and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    tried = 0
    for command in COMMANDS:
        callback = GROUP.commands[command].callback  # type: ignore[attr-defined]
        for param, role in path_roles(callback).items():
            if role is not PathRole.INPUT:
                continue
            values = base_values(command, world)
            values[param] = [locked] if isinstance(values.get(param), list) else locked
            code, output = run_cli(argv_for(command, values))
            assert "not readable" not in output and code != 2, (command, param, output)
            tried += 1
    assert tried >= 8


def test_user_text_with_markup_is_printed_as_written(world):
    output = assert_coded_failure(
        ["check", str(world["bad_in"]["rich markup in the name and text"])]
    )
    assert "[bold]marked [red]x.yaml" in output and "`[bold]key[/]`" in output
    new = world["root"] / "[/]made[bold].yaml"
    code, output = run_cli(["init", "--out", str(new)])
    assert code == 0 and f"wrote {new}" in output and new.exists()
    out = world["root"] / "sweeps"
    output = assert_coded_failure(
        ["sweep", str(world["spec"]), "--set", "encoder[0].filterz[/]=[bold]2", "--out", str(out)]
    )
    assert "filterz[/]" in output


FREE_TEXT = ["[bold]x[/]", "[", "a=[1,{b", "\udcff\udcfe", "=", ""]


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("check", "ignore"),
        ("check", "select"),
        ("train", "strategy"),
        ("train", "set_"),
        ("sweep", "set_"),
        ("sweep", "sampler"),
        ("sweep", "objective"),
        ("sweep", "storage"),
        ("init", "template"),
    ],
)
def test_free_text_options_never_traceback(world, command, option):
    for text in FREE_TEXT:
        values = base_values(command, world)
        values[option] = [text] if isinstance(values.get(option), list) else text
        if option == "strategy":  # a valid strategy would train: a bad spec stops it after
            values["spec_path"] = world["bad_in"]["not UTF-8"]
        code, output = run_cli(argv_for(command, values))
        assert "Traceback" not in output and "E079" not in output, (text, output)
        assert code == 0 or CODED.search(output), (text, output)


@pytest.mark.parametrize(
    ("tf_config", "words"),
    [
        (
            '{"cluster": {"worker": "host0:2222"}, "task": {"type": "worker", "index": 0}}',
            "one string",
        ),
        ('{"cluster": {"worker": ["host0:2222", 7]}, "task": {"index": 0}}', "cluster.worker[1]"),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            "task.index",
        ),
        (
            '{"cluster": {"worker": ["a:1", "b:99999"]}, "task": {"type": "worker"}}',
            "cluster.worker[1]",
        ),
        ("[1, 2]", "not a JSON object"),
        ("{", "not JSON"),
    ],
)
def test_a_tf_config_that_is_not_a_cluster_is_refused_before_any_work(world, tf_config, words):
    for dry_run in ([], ["--dry-run"]):
        values = base_values("train", world)
        argv = [*argv_for("train", values), *dry_run]
        code, output = run_cli(argv, env={"TF_CONFIG": tf_config})
        assert code == 1 and "E068" in output and words in output, output
        assert "Traceback" not in output
    assert not (world["root"] / "out" / "quickstart").exists()


WRITES = {  # a command line that prints to standard output without training
    "check": lambda w: ["check", str(w["spec"])],
    "summary": lambda w: ["summary", str(w["spec"])],
    "schema": lambda w: ["schema"],
    "init": lambda w: ["init", "--list"],
    "compare": lambda w: ["compare", str(w["run"])],
}


def failing_argv(command: str, w: dict[str, Any]) -> list[str]:
    """A command line of `command` that fails at once (a bad path: its message goes to
    standard error)."""
    values = base_values(command, w)
    roles = path_roles(GROUP.commands[command].callback)  # type: ignore[attr-defined]
    if roles:
        name, role = next(iter(roles.items()))
        bad = w["bad_in"]["missing"] if role is PathRole.INPUT else w["afile"] / "x"
        values[name] = [bad] if isinstance(values.get(name), list) else bad
    return argv_for(command, values)


@pytest.fixture
def no_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """`caegen lsp` with its standard input closed fails at once instead of serving."""
    monkeypatch.setattr(sys, "stdin", None)


@pytest.mark.parametrize("stream", ["closed", "full disk", "broken pipe"])
def test_a_failing_standard_output_is_a_coded_error_for_every_command(world, stream, no_stdin):
    failing = {
        "closed": None,
        "full disk": Failing(errno.ENOSPC),
        "broken pipe": Failing(errno.EPIPE),
    }[stream]
    for command in COMMANDS:
        if command in WRITES:
            output = assert_coded_failure(WRITES[command](world), stdout=failing)
            assert "E076" in output, output
        else:  # it prints to stdout only after training: its error still comes through
            assert_coded_failure(failing_argv(command, world), stdout=failing)


def test_a_failing_standard_error_still_exits_non_zero(world, no_stdin):
    for command in COMMANDS:
        code, _ = run_cli(failing_argv(command, world), stderr=Failing(errno.ENOSPC))
        assert code not in (0, None), command


def cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "caegen", *args], capture_output=True, timeout=60, **kwargs
    )


def test_real_descriptors_closed_or_full(world):
    """The console script with its descriptor 1 closed, or on /dev/full."""
    spec = str(world["spec"])
    closed = subprocess.run(
        [sys.executable, "-m", "caegen", "check", spec],
        stdout=None,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 1 and b"E076" in closed.stderr and b"closed" in closed.stderr
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "caegen", "schema"], stdout=full, stderr=subprocess.PIPE
        )
    assert done.returncode == 1 and b"E076" in done.stderr and b"No space left" in done.stderr
    assert b"Traceback" not in closed.stderr + done.stderr
    assert b"Exception ignored" not in closed.stderr + done.stderr
    lsp = cli("lsp", input=b"Content-Length: 5\r\n\r\n[1,2]")
    assert b"Traceback" not in lsp.stderr and lsp.returncode == 0


def test_a_usage_mistake_is_e077_with_exit_2_for_every_command():
    for command in COMMANDS:
        code, output = run_cli([command, "--no-such-option"])
        assert code == 2 and "E077" in output and "no such option" in output, output
        assert f"see `caegen {command} --help`" in output and "Traceback" not in output


def test_ctrl_c_while_the_command_line_is_read_says_interrupted(monkeypatch):
    """typer answers Ctrl-C during parsing (it imports modules then) with exit 130 and no
    word; the boundary says `interrupted`, as it does once a command runs."""

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(CaegenGroup, "parse_args", interrupted)
    code, output = run_cli(["check", str(SPECS / "quickstart.yaml")])
    assert code == 130 and output == "interrupted\n"


def test_the_boundary_turns_ctrl_c_and_bugs_into_messages(world, monkeypatch):
    import caegen.compile.compiler as compiler

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    def buggy(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("a bug in a pass")

    monkeypatch.setattr(compiler, "check", interrupted)
    code, output = run_cli(["check", str(world["spec"])])
    assert code == 130 and output.strip() == "interrupted"
    monkeypatch.setattr(compiler, "check", buggy)
    code, output = run_cli(["check", str(world["spec"])])
    assert code == 1 and "E079" in output and "ZeroDivisionError: a bug in a pass" in output
    assert "Traceback" not in output and "please report it" in output
    with pytest.raises(ZeroDivisionError):  # for whoever debugs caegen
        run_cli(["check", str(world["spec"])], env={"CAEGEN_TRACEBACK": "1"})


def save_codes(path: Path, array: Any) -> Path:
    np.save(path, array, allow_pickle=True)
    return path


def test_latent_code_files_are_checked_before_any_model_is_loaded(world):
    """`sample RUN --latent FILE`: the run's decoder is never loaded for these (the run has
    none: loading it would be a different error)."""
    root, shape = world["root"], (4, 4, 8)
    many = save_codes(root / "many.npy", np.zeros((20_000, *shape), np.float32))
    truncated = root / "many-truncated.npy"
    truncated.write_bytes(many.read_bytes()[:4096])  # the header says 20,000; data cut
    nan = np.zeros((3, *shape), np.float32)
    nan[2, 0, 0, 0] = np.nan
    cases = {
        many: "holds 20,000 codes; one run decodes 1 to 4,096",
        truncated: "holds 20,000 codes",  # refused from the header, before reading data
        save_codes(
            root / "nan.npy", nan
        ): "NaN or infinite values (as float32), the first at index 2",
        save_codes(root / "big.npy", np.full((1, *shape), 1e300)): "NaN or infinite",
        save_codes(root / "inf.npy", np.full((1, *shape), np.inf, np.float32)): "NaN or infinite",
        save_codes(root / "shape.npy", np.zeros((2, 3), np.float32)): "the latent is (4, 4, 8)",
        save_codes(root / "bool.npy", np.zeros((2, *shape), bool)): "holds bool codes",
        save_codes(root / "complex.npy", np.zeros((2, *shape), complex)): "complex128 codes",
        save_codes(root / "pickle.npy", np.array([{"a": 1}], dtype=object)): "codes of shape",
        save_codes(root / "none.npy", np.zeros((0, *shape), np.float32)): "holds 0 codes",
    }
    np.savez(root / "archive.npz", codes=np.zeros((2, *shape)))
    cases[root / "archive.npz"] = "is not a .npy array"
    cut = root / "cut.npy"
    cut.write_bytes(save_codes(root / "whole.npy", np.ones((4, *shape))).read_bytes()[:-10])
    cases[cut] = "is truncated"
    for path, words in cases.items():
        output = assert_coded_failure(["sample", str(world["run"]), "--latent", str(path)])
        assert "E053" in output and words in output, (path.name, output)


def test_atomic_writes_never_replace_a_fifo_or_a_device(world):
    from caegen.core.fsutil import atomic_write_text

    fifo = world["bad_in"]["a FIFO with no writer"]
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write_text(fifo, "replaced?")
    assert fifo.is_fifo()
