"""One fixture spec per diagnostic code, with its expected rendering (a snapshot).

Regenerate after an intended wording change with `CAEGEN_UPDATE_SNAPSHOTS=1 pytest
tests/test_diagnostic_fixtures.py`, then review the diff.
"""

from __future__ import annotations

import os

import pytest

import caegen
from caegen.cli.render import diagnostic_line
from caegen.core.diagnostics import CODES, CaegenError
from tests.conftest import FIXTURES

DIR = FIXTURES / "diagnostics"
# E001 is a missing file (no fixture can hold it); E05x to E09x come from commands, tested
# with the commands (CLI, boundary, training, export, compare, inspect, score, reliability
# tests), except E093 (one-class-labels) and E095 (ssim-window), which `check` reports on a
# spec. W112 (anomaly-metrics-undefined) is a warning of train and score, from the data;
# I113 and W114 are `caegen compare`'s, tested with it.
SPEC_CODES_IN_COMMAND_RANGES = {"E093", "E095"}
COMMAND_CODES = {"W112", "I113", "W114"}
NOT_SPEC_CODES = (
    {"E001"} | {c for c in CODES if c[:3] in ("E05", "E06", "E07", "E08", "E09")} | COMMAND_CODES
) - SPEC_CODES_IN_COMMAND_RANGES


def render(name: str) -> str:
    path = DIR / f"{name}.yaml"
    try:
        diagnostics = caegen.check(caegen.loads(path.read_text(), file=path.name)).diagnostics
    except CaegenError as exc:
        diagnostics = exc.diagnostics
    lines = []
    for d in diagnostics:
        lines.append(diagnostic_line(d))
        lines.append(f"  hint: {d.hint}")
    return "\n".join(lines) + "\n"


def test_every_spec_code_has_a_fixture():
    fixtures = {p.stem for p in DIR.glob("*.yaml")}
    assert fixtures == set(CODES) - NOT_SPEC_CODES


@pytest.mark.parametrize("code", sorted(set(CODES) - NOT_SPEC_CODES))
def test_fixture_output(code):
    out = render(code)
    expected_file = DIR / f"{code}.expected"
    if os.environ.get("CAEGEN_UPDATE_SNAPSHOTS"):
        expected_file.write_text(out)
    assert f": {code} " in out, f"fixture {code}.yaml does not trigger {code}"
    assert out == expected_file.read_text()
