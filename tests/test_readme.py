"""The README's console blocks are what the commands print today.

Every ```console block of README.md runs here, in README order, in a scratch folder holding
copies of specs/, examples/ and tests/fixtures/ (so `check --fix` edits a copy): each `$`
line is run by bash with `caegen` meaning this checkout's `python -m caegen`, and the output
(stdout and stderr as a terminal shows them) is compared with the lines under it.

Host-dependent figures are normalized on both sides: run timestamps, durations and ETAs,
images/s, latencies and speed-ups, runs of spaces (table columns), and TensorFlow's own log
lines are left out. An HTML comment right above a block can change how it is checked:

    <!-- readme-console: figures; train += --epochs 5 --limit 256 -->

`figures` compares the lines' words and layout but not their numbers, and a line `[...]`
(or `[... anything ...]`) stands for any number of lines; `SUBCOMMAND += ARGS` appends ARGS
to that caegen subcommand, to shorten a long training; `fresh` runs the block in a scratch
folder of its own (what earlier blocks wrote would change its output). Blocks without a
comment are compared exactly. `CAEGEN_README_UPDATE=1 pytest tests/test_readme.py` writes
today's output into the exact blocks of README.md instead of failing on them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
DIRECTIVE = re.compile(r"^<!-- readme-console: (.*) -->$")
ELISION = re.compile(r"^\[\.\.\..*\]$")
UPDATE = os.environ.get("CAEGEN_README_UPDATE") == "1"

pytestmark = [pytest.mark.keras, pytest.mark.slow]


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    start: int
    """Index in the README's lines of the first line inside the fence."""
    end: int
    """Index of the closing fence."""
    commands: list[Command]
    figures: bool = False
    fresh: bool = False
    extra_args: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The first command's subcommand and first argument, e.g. `check-cifar10_method2`."""
        words = shlex.split(self.commands[0].text.replace("\\\n", " "))
        words = words[words.index("caegen") + 1 :] if "caegen" in words else words
        arguments = [w for w in words[1:] if not w.startswith("-")]
        return "-".join([words[0], *(Path(w).stem for w in arguments[:1])])


def parse(lines: list[str]) -> list[Block]:
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        end = lines.index("```", i + 1)
        block = Block(i + 1, end, _commands(lines[i + 1 : end]))
        directive = DIRECTIVE.match(lines[i - 1]) if i else None
        if directive:
            _apply(directive.group(1), block)
        blocks.append(block)
        i = end + 1
    return blocks


def _commands(body: list[str]) -> list[Command]:
    commands: list[Command] = []
    continued = False
    for line in body:
        if continued:
            commands[-1].text += "\n" + line
        elif line.startswith("$ "):
            commands.append(Command(line[2:]))
        else:
            commands[-1].expected.append(line)
        continued = line.endswith("\\") and (continued or line.startswith("$ "))
    return commands


def _apply(directive: str, block: Block) -> None:
    for part in (p.strip() for p in directive.split(";")):
        if part in ("figures", "fresh"):
            setattr(block, part, True)
        elif "+=" in part:
            subcommand, args = (s.strip() for s in part.split("+=", 1))
            block.extra_args[subcommand] = args
        elif part:
            raise ValueError(f"unknown readme-console directive: {part!r}")


# --- normalizing ---------------------------------------------------------------------------
HOST_DEPENDENT = [
    (re.compile(r"\b\d{8}-\d{6}\b"), "<timestamp>"),
    (re.compile(r"\bETA (\d+m)?\d+s\b"), "ETA <t>"),
    (re.compile(r"[\d,]+ images/s\b"), "<n> images/s"),
    (re.compile(r"\b\d+(\.\d+)? ms\b"), "<t> ms"),
    (re.compile(r"\(\d+(\.\d+)?x\)"), "(<n>x)"),
]
NUMBER = re.compile(r"[-+]?\d+(,\d{3})*(\.\d+)?([eE][-+]?\d+)?")


TENSORFLOW_LOG = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d"
    r"|WARNING: All log messages before absl::InitializeLog|WARNING:(tensorflow|absl):)"
)
"""TensorFlow's own log lines (oneDNN, CUDA, retracing): they depend on the host."""


def normalize(lines: list[str], figures: bool) -> list[str]:
    out = []
    for line in lines:
        if TENSORFLOW_LOG.match(line):
            continue
        for pattern, replacement in HOST_DEPENDENT:
            line = pattern.sub(replacement, line)
        if figures:
            line = NUMBER.sub("#", line)
            line = re.sub(r"-{3,}", "---", line)
        out.append(re.sub(r"\s+", " ", line).strip())
    while out and not out[-1]:
        out.pop()
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line, `[...]` lines standing for any run of lines."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if ELISION.match(line) else re.escape(line) + r"\n" for line in expected
    )
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in actual)) is not None


# --- running -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    return new_sandbox(tmp_path_factory)


def new_sandbox(tmp_path_factory) -> dict:
    """A scratch folder with the repository's specs, examples and fixtures, and `caegen`."""
    root = tmp_path_factory.mktemp("readme")
    for folder in ("specs", "examples", "tests/fixtures"):
        shutil.copytree(ROOT / folder, root / folder)
    bin_dir = root / ".bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "caegen"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m caegen "$@"\n')
    wrapper.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "KERAS_HOME": str(root / ".keras"),
        "COLUMNS": "200",
    }
    return {"root": root, "env": env, "done": {}}


def run_block(block: Block, sandbox: dict) -> list[list[str]]:
    """Each command's output lines, the exit status carried to the next (`echo $?`)."""
    outputs = []
    status = 0
    for command in block.commands:
        text = _with_extra_args(command.text, block.extra_args)
        result = subprocess.run(
            ["bash", "-c", f"(exit {status}); {text}"],
            cwd=sandbox["root"],
            env=sandbox["env"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        status = result.returncode
        outputs.append(result.stdout.splitlines())
    return outputs


def _with_extra_args(text: str, extra: dict[str, str]) -> str:
    words = text.replace("\\\n", " ").split()
    for subcommand, args in extra.items():
        if "caegen" in words and words[words.index("caegen") + 1 :][:1] == [subcommand]:
            return f"{text} {args}"
    return text


BLOCKS = parse(README.read_text().splitlines())


def test_the_readme_has_console_blocks():
    assert len(BLOCKS) >= 13
    assert all(block.commands for block in BLOCKS)


@pytest.mark.parametrize(
    "index", range(len(BLOCKS)), ids=[f"{i}-{b.name}" for i, b in enumerate(BLOCKS)]
)
def test_console_block(index, sandbox, tmp_path_factory):
    block = BLOCKS[index]
    if block.fresh:
        outputs = run_block(block, new_sandbox(tmp_path_factory))
    else:
        for earlier in range(index):  # a block may read what an earlier one wrote
            if earlier not in sandbox["done"] and not BLOCKS[earlier].fresh:
                sandbox["done"][earlier] = run_block(BLOCKS[earlier], sandbox)
        outputs = run_block(block, sandbox)
        sandbox["done"][index] = outputs
    wrong = []
    for command, actual in zip(block.commands, outputs, strict=True):
        want = normalize(command.expected, block.figures)
        got = normalize(actual, block.figures)
        if not matches(want, got):
            wrong.append((command, actual))
    if wrong and UPDATE and not block.figures:
        _update(index, outputs)
        return
    assert not wrong, "\n\n".join(
        f"README.md:{block.start} `$ {command.text}` printed:\n" + "\n".join(actual)
        for command, actual in wrong
    )


def _update(index: int, outputs: list[list[str]]) -> None:
    """Write the commands' output into the index-th console block of README.md."""
    lines = README.read_text().splitlines()
    block = parse(lines)[index]
    body = []
    for command, actual in zip(block.commands, outputs, strict=True):
        body += [f"$ {command.text}", *(line.rstrip() for line in actual)]
    lines[block.start : block.end] = "\n".join(body).split("\n")
    README.write_text("\n".join(lines) + "\n")
