"""Regenerate docs/diagnostics.md and the code table in README.md from caegen's CODES
(`make docs`; tests fail when either is stale)."""

from __future__ import annotations

import re
from pathlib import Path

from caegen.core.diagnostics import codes_markdown

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| [EWI]\d{3} ")


def main() -> None:
    table = codes_markdown()
    (ROOT / "docs" / "diagnostics.md").write_text(table)
    rows = [line for line in table.splitlines() if ROW.match(line)]
    readme = (ROOT / "README.md").read_text().splitlines()
    at = [i for i, line in enumerate(readme) if ROW.match(line)]
    readme[at[0] : at[-1] + 1] = rows
    (ROOT / "README.md").write_text("\n".join(readme) + "\n")


if __name__ == "__main__":
    main()
