"""`caegen check --fix`: fixes as minimal text edits, everything else byte for byte."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.compile.fixes import apply_edits, fix_text
from caegen.core.diagnostics import CODES, CaegenError
from tests.conftest import FIXTURES, SPECS

DIR = FIXTURES / "fixes"
runner = CliRunner()


def findings(text: str) -> set[str]:
    try:
        return {d.code for d in caegen.check(caegen.loads(text)).diagnostics}
    except CaegenError as exc:
        return {d.code for d in exc.diagnostics}


def fixture_names() -> list[str]:
    """`CODE` or `CODE.variant` for each `*.before.yaml` (a code may have several fixes)."""
    return sorted(p.name.removesuffix(".before.yaml") for p in DIR.glob("*.before.yaml"))


def fixable_codes() -> set[str]:
    return {name.split(".")[0] for name in fixture_names()}


UNSAFE = {"W101", "E031", "W103"}  # fixes that change the model: only with --unsafe-fixes


def test_every_fixable_code_has_a_fixture():
    assert fixable_codes() == {"E011", "E031", "E040", "W101", "W103"}
    assert fixable_codes() <= set(CODES)


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_before_and_after(name):
    code = name.split(".")[0]
    before = (DIR / f"{name}.before.yaml").read_text()
    after = (DIR / f"{name}.after.yaml").read_text()
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
    from caegen.core.diagnostics import Edit

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


def fixes_of(text: str, code: str) -> list:
    return [
        f for d in caegen.check(caegen.loads(text)).diagnostics if d.code == code for f in d.fixes
    ]


def test_a_diagnostic_offers_alternatives_and_fix_applies_the_first():
    before = (DIR / "E031.padding.before.yaml").read_text()
    titles = [f.title for f in fixes_of(before, "E031")]
    assert titles == [
        "use padding: valid on `decoder.4`",
        "end the decoder with {type: cropping2d, cropping: [[2, 2], [2, 2]]}",
    ]
    assert fix_text(before, unsafe=True).applied == titles[:1]


def test_a_written_padding_is_rewritten_in_its_own_spelling():
    before = (DIR / "E031.padding.before.yaml").read_text()
    written = before.replace(
        "filters: 16, kernel_size: 3, activation: relu}\n  - {type: upsampling2d, size: 2}\n"
        "  - {type: conv2d, filters: 1",
        "filters: 16, kernel_size: 3, activation: relu, padding: 'Same'}\n"
        "  - {type: upsampling2d, size: 2}\n  - {type: conv2d, filters: 1",
    )
    assert written != before
    fixed = fix_text(written, unsafe=True).text
    assert "padding: 'valid'}" in fixed and "E031" not in findings(fixed)


def test_no_padding_fix_when_no_single_flip_gives_back_the_input():
    before = (DIR / "E031.crop.before.yaml").read_text()
    assert [f.title.split()[0] for f in fixes_of(before, "E031")] == ["end"]


def test_activation_order_fix_is_withheld_where_a_generated_name_would_shift():
    before = (DIR / "W103.before.yaml").read_text()
    assert len(fixes_of(before, "W103")) == 2
    # the decoder reads `encoder.5` (the second batch norm) by its generated name: either
    # move (an inserted activation, or swapped lines) would renumber it
    wired = before.replace(
        "  - {type: upsampling2d}", "  - {type: upsampling2d, inputs: encoder.5}"
    )
    assert "W103" in findings(wired) and fixes_of(wired, "W103") == []


@pytest.mark.parametrize("ending", ["\r\n", "\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("name", ["W103", "E031.crop"])
def test_added_lines_end_as_the_files_lines_do(tmp_path, name, ending):
    """A fix that adds a line writes it with the file's own line break (CR-only too)."""
    before = (DIR / f"{name}.before.yaml").read_text().replace("\n", ending)
    after = (DIR / f"{name}.after.yaml").read_text().replace("\n", ending)
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(before.encode())
    result = runner.invoke(app, ["check", "--fix", "--unsafe-fixes", "--no-table", str(spec)])
    assert result.exit_code == 0, result.output
    assert spec.read_bytes() == after.encode()


def test_fix_writes_through_a_symlink_and_keeps_the_files_mode(tmp_path):
    import os
    import stat

    real = tmp_path / "specs" / "method1.yaml"
    real.parent.mkdir()
    real.write_text((SPECS / "cifar10_method1_bug.yaml").read_text())
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    result = runner.invoke(app, ["check", "--fix", "--no-table", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)  # still a link, to the file
    assert caegen.check(caegen.load(real)).params.total == 19_363  # the file got the fixes
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_fix_refuses_a_file_that_is_not_utf8_and_says_where(tmp_path):
    spec = tmp_path / "latin1.yaml"
    raw = "name: caf\xe9\ninput: [8, 8, 1]\n".encode("latin-1")
    spec.write_bytes(raw)
    result = runner.invoke(app, ["check", "--fix", str(spec)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "latin1.yaml:1:10: E001" in result.output and "0xe9" in result.output
    assert spec.read_bytes() == raw


def test_fixes_are_never_written_over_a_fifo(tmp_path):
    """The fixed text of a spec read from a FIFO is refused, not written in its place."""
    import os
    import threading

    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    text = (SPECS / "cifar10_method1_bug.yaml").read_text()
    writer = threading.Thread(target=fifo.write_text, args=(text,))
    writer.start()
    result = runner.invoke(app, ["check", "--fix", "--no-table", str(fifo)])
    writer.join(timeout=10)
    assert (
        result.exit_code == 1
        and "E057" in result.output
        and "not a regular file" in (result.output)
    )
    assert fifo.is_fifo()


def test_fix_and_diff_say_what_they_held_back_and_when_nothing_is_to_fix(tmp_path):
    spec = tmp_path / "method2.yaml"
    original = (SPECS / "cifar10_method2.yaml").read_bytes()
    spec.write_bytes(original)  # four W103, whose fixes all change the model
    held = (
        f"no safe fixes in {spec}; 4 model-changing fixes (W103 at 7:5, W103 at 10:5, "
        "W103 at 14:5, W103 at 17:5) need --unsafe-fixes"
    )
    for args in (["--fix", "--diff"], ["--diff"], ["--fix", "--no-table"]):
        result = runner.invoke(app, ["check", *args, str(spec)])
        assert result.exit_code == 0 and held in result.stderr, (args, result.output)
        assert spec.read_bytes() == original
    assert runner.invoke(app, ["check", "--diff", str(spec)]).stdout == ""
    alone = runner.invoke(app, ["check", "--unsafe-fixes", str(spec)])  # no --fix: a check
    assert alone.exit_code == 0 and spec.read_bytes() == original and "W103" in alone.stdout
    unsafe = runner.invoke(app, ["check", "--diff", "--unsafe-fixes", str(spec)])
    assert unsafe.stdout.startswith(f"--- a/{spec}") and unsafe.stderr == ""
    quick = tmp_path / "quickstart.yaml"
    quick.write_bytes((SPECS / "quickstart.yaml").read_bytes())
    result = runner.invoke(app, ["check", "--diff", str(quick)])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"nothing to fix in {quick}\n"


def test_diff_exits_1_while_an_error_would_be_left_and_says_which(tmp_path):
    unparsable = FIXTURES / "diagnostics" / "E002.yaml"
    result = runner.invoke(app, ["check", "--diff", str(unparsable)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"{unparsable}: no fix for 1 error (E002 at ")
    method1 = tmp_path / "m1.yaml"  # its E040s all have safe fixes: nothing left
    method1.write_bytes((SPECS / "cifar10_method1_bug.yaml").read_bytes())
    assert runner.invoke(app, ["check", "--diff", str(method1)]).exit_code == 0
    both = runner.invoke(app, ["check", "--diff", str(tmp_path / "missing.yaml"), str(method1)])
    assert both.exit_code == 1 and "E001" in both.stderr and both.stdout.startswith("--- a/")


def test_diff_is_never_mistaken_for_json():
    result = runner.invoke(app, ["check", "--diff", "-f", "json", str(SPECS / "quickstart.yaml")])
    assert result.exit_code == 2 and "E077" in result.stderr and result.stdout == ""


def test_diff_follows_strict_and_an_empty_select_is_a_mistake(tmp_path):
    spec = tmp_path / "method2.yaml"  # four W103 whose fixes are all held back
    spec.write_bytes((SPECS / "cifar10_method2.yaml").read_bytes())
    assert runner.invoke(app, ["check", "--diff", str(spec)]).exit_code == 0
    assert runner.invoke(app, ["check", "--diff", "--strict", str(spec)]).exit_code == 1
    empty = runner.invoke(app, ["check", "--select", "", str(spec)])
    assert (
        empty.exit_code == 2 and "E077" in empty.stderr and "--select names no code" in empty.stderr
    )


def test_a_fix_that_cannot_be_written_fails_its_spec_in_text_and_json(tmp_path, monkeypatch):
    import errno

    from caegen.core import fsutil

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(fsutil, "atomic_rewrite_bytes", read_only)
    spec = tmp_path / "m1.yaml"
    spec.write_bytes((SPECS / "cifar10_method1_bug.yaml").read_bytes())
    quick = tmp_path / "quick.yaml"
    quick.write_bytes((SPECS / "quickstart.yaml").read_bytes())
    result = runner.invoke(app, ["check", "--fix", "-f", "json", str(spec), str(quick)])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    by_file = {r["file"]: r for r in doc["results"]}
    assert by_file[str(spec)]["ok"] is False and by_file[str(quick)]["ok"] is True
    assert any(d["code"] == "E057" for d in by_file[str(spec)]["diagnostics"])
    text = runner.invoke(app, ["check", "--fix", "--no-table", str(spec)])
    assert text.exit_code == 1 and f"FAILED {spec}" in text.stdout and "E057" in text.stdout


def test_fix_goes_on_past_a_spec_it_cannot_read(tmp_path):
    method1 = tmp_path / "m1.yaml"
    method1.write_bytes((SPECS / "cifar10_method1_bug.yaml").read_bytes())
    result = runner.invoke(app, ["check", "--fix", "--no-table", "missing.yaml", str(method1)])
    assert result.exit_code == 1  # the missing one fails
    assert f"fixed {method1}" in result.stderr and f"OK {method1}" in result.stdout
    assert result.output.count("E001") == 1  # reported once, by the check


def test_safe_fixes_applied_and_a_model_changing_one_held_back(tmp_path):
    spec = tmp_path / "method1.yaml"
    text = (SPECS / "cifar10_method1_bug.yaml").read_text().replace("unit", "symmetric")
    spec.write_text(text)  # four E040 (safe) and a W101 (sigmoid on [-1, 1] data)
    result = runner.invoke(app, ["check", "--diff", str(spec)])
    fixed = fix_text(text, file=str(spec))
    assert result.stdout == fixed.diff(str(spec)) and "tanh" not in result.stdout
    # the W101 is followed to its place after the four rewired inputs moved it along
    assert result.stderr == (
        f"{spec}: 1 model-changing fix (W101 at 21:75) held back; --unsafe-fixes applies it\n"
    )
    result = runner.invoke(app, ["check", "--fix", "--no-table", str(spec)])
    assert result.stderr.startswith(f"fixed {spec}: make `mpool1_1` read `bnorm1_1`;")
    assert "W101 at 21:75) held back" in result.stderr
    assert "activation: sigmoid}" in spec.read_text()


def test_unsafe_fixes_leave_alone_what_an_error_hid_and_what_is_ignored(tmp_path):
    before = (DIR / "E031.padding.before.yaml").read_text()
    hidden = before.replace(  # a batch norm after a relu: W103, once the shapes come back
        "activation: relu}\n  - {type: max_pool2d, pool_size: 2}",
        "activation: relu}\n  - {type: batch_norm}\n  - {type: max_pool2d, pool_size: 2}",
        1,
    )
    assert findings(hidden) == {"E031"}  # the shape error keeps the lints from running
    fixed = fix_text(hidden, unsafe=True)
    assert fixed.applied == ["use padding: valid on `decoder.4`"]
    assert "W103" in findings(fixed.text)  # shown now, for the next --fix to apply
    assert fix_text(fixed.text, unsafe=True).applied == [
        "apply `relu` after the batch norm `encoder.1`"
    ]
    spec = tmp_path / "method2.yaml"
    original = (SPECS / "cifar10_method2.yaml").read_bytes()
    spec.write_bytes(original)
    for args in (["--ignore", "W103"], ["--select", "I1"]):
        result = runner.invoke(app, ["check", "--fix", "--unsafe-fixes", *args, str(spec)])
        assert result.exit_code == 0 and spec.read_bytes() == original, args
