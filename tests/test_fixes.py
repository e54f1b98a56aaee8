"""`caegen check --fix`: fixes as minimal text edits, everything else byte for byte."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.diagnostics import CODES, CaegenError
from caegen.fixes import apply_edits, fix_text
from tests.conftest import FIXTURES, SPECS

DIR = FIXTURES / "fixes"
runner = CliRunner()


def findings(text: str) -> set[str]:
    try:
        return {d.code for d in caegen.check(caegen.loads(text)).diagnostics}
    except CaegenError as exc:
        return {d.code for d in exc.diagnostics}


def fixable_codes() -> set[str]:
    return {p.name.split(".")[0] for p in DIR.glob("*.before.yaml")}


UNSAFE = {"W101", "E031"}  # fixes that change the model: only with --unsafe-fixes


def test_every_fixable_code_has_a_fixture():
    assert fixable_codes() == {"E011", "E031", "E040", "W101"} and fixable_codes() <= set(CODES)


@pytest.mark.parametrize("code", sorted(fixable_codes()))
def test_fixture_before_and_after(code):
    before = (DIR / f"{code}.before.yaml").read_text()
    after = (DIR / f"{code}.after.yaml").read_text()
    assert code in findings(before)
    unsafe = code in UNSAFE
    if unsafe:
        assert fix_text(before).text == before  # --fix alone leaves a model change alone
    result = fix_text(before, unsafe=unsafe)
    assert result.text == after  # the fix applies ...
    assert code not in findings(after)  # ... and the finding is gone
    assert fix_text(after, unsafe=unsafe).text == after  # nothing left to fix: no loop


def test_unsafe_fixes_on_the_command_line(tmp_path):
    spec = tmp_path / "w101.yaml"
    spec.write_bytes((DIR / "W101.before.yaml").read_bytes())
    assert runner.invoke(app, ["check", "--fix", str(spec)]).exit_code == 0
    assert spec.read_bytes() == (DIR / "W101.before.yaml").read_bytes()
    result = runner.invoke(app, ["check", "--fix", "--unsafe-fixes", str(spec)])
    assert result.exit_code == 0 and "use `tanh` on `decoder.1`" in result.output
    assert spec.read_bytes() == (DIR / "W101.after.yaml").read_bytes()


def _changed_spans(before: str, after: str) -> list[tuple[str, str]]:
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [
        (before[i1:i2], after[j1:j2])
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op != "equal"
    ]


def test_method1_fixed_is_method2_and_only_the_four_inputs_change(tmp_path):
    spec = tmp_path / "method1.yaml"
    original = (SPECS / "cifar10_method1_bug.yaml").read_bytes()
    spec.write_bytes(original)
    result = runner.invoke(app, ["check", "--fix", "--no-table", str(spec)])
    assert result.exit_code == 0, result.output
    assert "19,363 params (19,107 trainable, 256 non-trainable)" in result.output
    fixed = spec.read_bytes()
    changed = _changed_spans(original.decode(), fixed.decode())
    before_lines = original.decode().splitlines()
    after_lines = fixed.decode().splitlines()
    differing = [(a, b) for a, b in zip(before_lines, after_lines) if a != b]
    assert len(before_lines) == len(after_lines) and len(differing) == 4
    for a, b in differing:  # each line differs only in its `inputs` value
        assert a.split("inputs: ")[0] == b.split("inputs: ")[0]
        assert "conv" in a.split("inputs: ")[1] and "bnorm" in b.split("inputs: ")[1]
    assert all(len(old) <= 8 and len(new) <= 8 for old, new in changed)


def test_diff_prints_and_writes_nothing(tmp_path):
    spec = tmp_path / "method1.yaml"
    spec.write_bytes((SPECS / "cifar10_method1_bug.yaml").read_bytes())
    before = spec.read_bytes()
    result = runner.invoke(app, ["check", "--diff", str(spec)])
    assert result.exit_code == 0
    assert "-  - {type: max_pool2d, name: mpool1_1, pool_size: 2, inputs: conv1_1}" in result.output
    assert (
        "+  - {type: max_pool2d, name: mpool1_1, pool_size: 2, inputs: bnorm1_1}" in result.output
    )
    assert spec.read_bytes() == before


MIXED = (
    "# a spec written by hand\r\n"
    "name: mixed   # trailing comment\r\n"
    "input: [16, 16, 1]\r\n"
    "defaults: &d {padding: same}\r\n"
    "encoder:\r\n"
    "  - {type: conv2d, name: c, filters: 4, kernel_size: 3, activation: relu}  # conv\r\n"
    "\r\n"
    "  - type: batch_norm      # block style\r\n"
    "    name: bn\r\n"
    "  - {type: max_pool2d, name: p, inputs: c}\r\n"
    "decoder:\r\n"
    "  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 2, activaton: sigmoid}\r\n"
)


def test_comments_styles_crlf_and_anchors_stay_outside_the_edits(tmp_path):
    spec = tmp_path / "mixed.yaml"
    spec.write_bytes(MIXED.encode())
    result = runner.invoke(app, ["check", "--fix", "--no-table", str(spec)])
    assert result.exit_code == 0, result.output
    fixed = spec.read_bytes().decode()
    assert _changed_spans(MIXED, fixed) == [("c", "bn"), ("", "i")]  # inputs, activaton
    assert fixed.count("\r\n") == MIXED.count("\r\n") and "&d" in fixed


def test_edits_that_overlap_wait_for_the_next_round():
    from caegen.diagnostics import Edit

    text = "abcdef\n"
    edits = [Edit(1, 1, 1, 4, "X"), Edit(1, 3, 1, 6, "Y")]
    assert apply_edits(text, edits) == "abY" + "f\n"


def test_json_format_carries_the_fixes():
    import json

    result = runner.invoke(
        app, ["check", "--format", "json", str(SPECS / "cifar10_method1_bug.yaml")]
    )
    data = json.loads(result.output)
    (dead, *_) = [d for d in data["results"][0]["diagnostics"] if d["code"] == "E040"]
    (fix,) = dead["fixes"]
    assert fix["applicability"] == "safe" and fix["edits"][0]["text"] == "bnorm1_1"
    assert fix["edits"][0]["start"] == {"line": 10, "column": 62}


def test_fix_keeps_files_it_cannot_improve(tmp_path: Path):
    spec = tmp_path / "q.yaml"
    spec.write_bytes((SPECS / "quickstart.yaml").read_bytes())
    before = spec.read_bytes()
    assert runner.invoke(app, ["check", "--fix", str(spec)]).exit_code == 0
    assert spec.read_bytes() == before
