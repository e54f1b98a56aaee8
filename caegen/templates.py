"""The shipped specs (specs/ in the repository), usable as `caegen init` templates."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def _root() -> Traversable:
    return resources.files("caegen").joinpath("templates")


def names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _root().iterdir() if p.name.endswith(".yaml"))


def text(name: str) -> str:
    return _root().joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def description(name: str) -> str:
    """The first comment line after the modeline: the idea the spec shows."""
    for line in text(name).splitlines():
        if line.startswith("#") and "yaml-language-server" not in line:
            return line.lstrip("# ").strip()
    return ""
