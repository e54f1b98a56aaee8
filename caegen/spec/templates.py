"""The shipped specs (specs/ in the repository), usable as `caegen init` templates.

A written spec's modeline names `caegen.schema.json` in its own folder, and `init` puts
the schema there: editor completion works wherever the spec is written, with no path into
the repository or the installed package.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

SCHEMA_FILE = "caegen.schema.json"
MODELINE = "# yaml-language-server: $schema="


def _root() -> Traversable:
    return resources.files("caegen.spec").joinpath("templates")


def names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _root().iterdir() if p.name.endswith(".yaml"))


def text(name: str, schema: str | None = None) -> str:
    """The template's YAML; with `schema`, its modeline points there instead."""
    content = _root().joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    if schema is None:
        return content
    lines = content.splitlines(keepends=True)
    lines = [line for line in lines if not line.startswith(MODELINE)]
    return f"{MODELINE}{schema}\n" + "".join(lines)


def schema_text() -> str:
    from caegen.spec.schema import json_schema

    return json.dumps(json_schema(), indent=2) + "\n"


def write_schema_beside(spec_path: Path) -> str:
    """Put caegen.schema.json next to a spec; say what was done. Never replaces a file
    that is not a caegen schema."""
    from caegen.core.fsutil import atomic_write_text

    target = spec_path.parent / SCHEMA_FILE
    wanted = schema_text()
    if target.exists():
        current = target.read_text(encoding="utf-8", errors="replace")
        if current == wanted:
            return f"{target} is up to date"
        try:
            is_ours = json.loads(current).get("title") == "caegen spec"
        except (ValueError, AttributeError):
            is_ours = False
        if not is_ours:
            return f"kept {target} (not a caegen schema); editor completion may not work"
    atomic_write_text(target, wanted)
    return f"wrote {target} (editor completion)"


def description(name: str) -> str:
    """The first comment line after the modeline: the idea the spec shows."""
    for line in text(name).splitlines():
        if line.startswith("#") and "yaml-language-server" not in line:
            return line.lstrip("# ").strip()
    return ""
