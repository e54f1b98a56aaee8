"""No function in caegen is longer than about a screen: its body (signature and docstring
left out) stays within MAX_BODY_LINES, so each does one job a reader can hold at once."""

from __future__ import annotations

import ast
from pathlib import Path

MAX_BODY_LINES = 80
PACKAGE = Path(__file__).resolve().parents[1] / "caegen"


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]  # the docstring
    return (node.end_lineno or node.lineno) - body[0].lineno + 1


def long_functions(root: Path, limit: int) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = body_lines(node)
                if n > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}: {n}")
    return found


def test_no_function_body_is_longer_than_a_screen():
    assert long_functions(PACKAGE, MAX_BODY_LINES) == []


def test_the_measure_sees_a_long_function(tmp_path: Path):
    package = tmp_path / "pkg"
    package.mkdir()
    lines = "\n".join(f"    x{i} = {i}" for i in range(MAX_BODY_LINES + 1))
    (package / "long.py").write_text(f'def f():\n    """Doc."""\n{lines}\n')
    assert long_functions(package, MAX_BODY_LINES) == ["pkg/long.py:1 f: 81"]
