"""The house rules, checked with import-linter on the real package: stages import only
downward, the static path imports no TensorFlow, `caegen check`'s fast start no typer or
rich, no module circles. Each rule is also
broken on purpose in a copy of the package, to show the check would catch it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_every_import_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "caegen", tmp_path / "caegen", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n\n" + text + "\n")


@pytest.mark.parametrize(
    ("module", "code", "broken"),
    [
        (  # the compiler reaching up into the CLI, even lazily
            "caegen/compile/memory.py",
            "def _up():\n    from caegen.cli import app  # noqa\n",
            "stages import only downward",
        ),
        (  # training reaching up into sweeps
            "caegen/training/evaluate.py",
            "import caegen.sweep.objectives  # noqa\n",
            "stages import only downward",
        ),
        (  # the static path importing Keras directly
            "caegen/compile/graph.py",
            "def _keras():\n    import keras  # noqa\n",
            "the static path never imports",
        ),
        (  # `caegen check`'s fast start loading rich through the report renderer
            "caegen/cli/render.py",
            "def _table():\n    from rich.table import Table  # noqa\n",
            "fast start never loads the command-line libraries",
        ),
        (  # ... or the typer app, through the shared boundary
            "caegen/cli/failures.py",
            "def _app():\n    from caegen.cli.commands import app  # noqa\n",
            "fast start never loads the command-line libraries",
        ),
        (  # the circle the sweep once had: objectives <-> runner
            "caegen/sweep/objectives.py",
            "def _circle():\n    from caegen.sweep import runner  # noqa\n",
            "no import circles",
        ),
    ],
)
def test_a_broken_rule_is_reported(package_copy: Path, module: str, code: str, broken: str):
    _append(package_copy / module, code)
    result = lint_imports(package_copy)
    assert result.returncode != 0
    verdicts = [line for line in result.stdout.splitlines() if broken in line]
    assert any(" BROKEN" in line for line in verdicts), result.stdout


def test_a_new_stage_must_be_placed_in_the_contract(package_copy: Path):
    (package_copy / "caegen" / "newstage").mkdir()
    (package_copy / "caegen" / "newstage" / "__init__.py").write_text('"""A stage."""\n')
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "newstage" in result.stdout
