"""`caegen lsp`, driven over stdio as an editor drives it: a real server process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import caegen
from caegen.compile.fixes import apply_edits
from tests.conftest import SPECS
from tests.lsp_client import LspProcess

pytest.importorskip("pygls")

METHOD1 = SPECS / "cifar10_method1_bug.yaml"


def generated_spec(layers: int) -> str:
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    from check_latency import generated_spec as make

    return make(layers)


@pytest.fixture
def server(tmp_path):
    # -X importtime logs every module the server imports to stderr
    lsp = LspProcess(tmp_path / "stderr.log", env={"PYTHONPROFILEIMPORTTIME": "1"})
    lsp.initialize(tmp_path)
    yield lsp
    if lsp.proc.poll() is None:
        lsp.close()


def test_findings_are_published_with_codes_severities_and_hints(server):
    uri = METHOD1.resolve().as_uri()
    server.open(uri, METHOD1.read_text())
    _, message = server.diagnostics(uri, version=1)
    found = message["params"]["diagnostics"]
    assert [d["code"] for d in found].count("E040") == 4
    dead = found[0]
    assert dead["severity"] == 1 and dead["source"] == "caegen"
    assert "hint:" in dead["message"]
    # the underline is the dead layer's flow mapping on line 9 (0-based 8)
    line = METHOD1.read_text().splitlines()[8]
    assert dead["range"]["start"] == {"line": 8, "character": line.index("{")}
    assert dead["range"]["end"] == {"line": 8, "character": line.rindex("}") + 1}


def test_code_actions_apply_the_fixes(server):
    uri = METHOD1.resolve().as_uri()
    text = METHOD1.read_text()
    server.open(uri, text)
    _, message = server.diagnostics(uri, version=1)
    dead = message["params"]["diagnostics"][0]
    actions = server.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": dead["range"], "context": {"diagnostics": [dead]}},
    )
    (quick,) = [a for a in actions if a["kind"] == "quickfix"]
    assert quick["title"].startswith("make `mpool1_1` read `bnorm1_1`") and quick["isPreferred"]
    (edit,) = quick["edit"]["changes"][uri]
    assert edit["newText"] == "bnorm1_1"
    (fix_all,) = [a for a in actions if a["kind"] == "source.fixAll"]
    (whole,) = fix_all["edit"]["changes"][uri]
    fixed = caegen.check(caegen.loads(whole["newText"]))
    assert fixed.ok and fixed.params.total == 19_363


def test_unsafe_fixes_are_offered_as_alternatives_never_preferred(server, tmp_path):
    spec = Path(__file__).parent / "fixtures" / "fixes" / "E031.padding.before.yaml"
    uri = spec.resolve().as_uri()
    text = spec.read_text()
    server.open(uri, text)
    _, message = server.diagnostics(uri, version=1)
    (finding,) = [d for d in message["params"]["diagnostics"] if d["code"] == "E031"]
    actions = server.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": finding["range"], "context": {"diagnostics": []}},
    )
    titles = [a["title"] for a in actions]
    assert titles == [
        "use padding: valid on `decoder.4` (E031, changes the model)",
        "end the decoder with {type: cropping2d, cropping: [[2, 2], [2, 2]]} (E031, changes the "
        "model)",
    ]
    assert not any(a.get("isPreferred") for a in actions)
    # applied as an editor applies it (0-based, end exclusive), it is the fixture's after
    (edit,) = actions[0]["edit"]["changes"][uri]
    from caegen.core.diagnostics import Edit

    start, end = edit["range"]["start"], edit["range"]["end"]
    applied = apply_edits(
        text,
        [
            Edit(
                start["line"] + 1,
                start["character"] + 1,
                end["line"] + 1,
                end["character"] + 1,
                edit["newText"],
            )
        ],
    )
    assert applied == spec.with_name("E031.padding.after.yaml").read_text()


def test_hover_shows_the_layer_under_the_cursor(server):
    uri = METHOD1.resolve().as_uri()
    text = METHOD1.read_text()
    server.open(uri, text)
    line = next(i for i, row in enumerate(text.splitlines()) if "conv1_1" in row)
    hover = server.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": 8}},
    )
    value = hover["contents"]["value"]
    assert "`conv1_1` (conv2d)" in value
    assert "output: 32x32x64" in value and "params: 1,792" in value and "MACs: 1,769,472" in value
    assert "receptive field: 3x3" in value
    nothing = server.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}},
    )
    assert nothing is None


def test_a_change_is_checked_and_stale_versions_never_overwrite_fresh_ones(server, tmp_path):
    uri = (tmp_path / "big.yaml").as_uri()
    good = generated_spec(200)
    server.open(uri, good)
    _, first = server.diagnostics(uri, version=1)
    assert not [d for d in first["params"]["diagnostics"] if d["severity"] == 1]
    # five quick edits: only the last one's findings matter
    broken = good.replace("input: [8, 8, 1]", "input: [8, 8, 2]")
    server.skipped.clear()
    for version in range(2, 7):
        server.change(uri, broken if version == 6 else good, version)
    _, last = server.diagnostics(uri, version=6)
    published = [m for m in server.skipped if m.get("method") == "textDocument/publishDiagnostics"]
    assert len(published) < 4  # the debounce coalesced the edits typed in between
    assert {d["code"] for d in last["params"]["diagnostics"]} >= {"E031"}
    # nothing published after it, for an older version, within the debounce and more
    with pytest.raises(TimeoutError):
        server.diagnostics(uri, timeout=0.5)


def test_latency_of_a_change_on_a_200_layer_spec(server, tmp_path):
    """The figure is measured by bench/lsp_latency.py; this only guards against a server
    that stops answering promptly (e.g. one that imported TensorFlow)."""
    uri = (tmp_path / "big.yaml").as_uri()
    text = generated_spec(200)
    server.open(uri, text)
    server.diagnostics(uri, version=1)
    waits = []
    for version in range(2, 7):
        sent = server.change(uri, text + f"# edit {version}\n", version)
        received, _ = server.diagnostics(uri, version=version)
        waits.append(received - sent)
    assert sorted(waits)[2] < 1.0


def test_other_yaml_gets_no_findings_and_close_clears_them(server, tmp_path):
    uri = (tmp_path / "ci.yaml").as_uri()
    server.open(uri, "jobs:\n  test: {runs-on: ubuntu}\n")
    _, message = server.diagnostics(uri, version=1)
    assert message["params"]["diagnostics"] == []
    spec_uri = (tmp_path / "bad.yaml").as_uri()
    server.open(spec_uri, "name: x\ninput: [8, 8, 1]\nencoder:\n  - {type: conv2d, filtres: 4}\n")
    _, message = server.diagnostics(spec_uri, version=1)
    assert message["params"]["diagnostics"][0]["code"].startswith("E0")
    server.notify("textDocument/didClose", {"textDocument": {"uri": spec_uri}})
    _, cleared = server.diagnostics(spec_uri)
    assert cleared["params"]["diagnostics"] == []


def test_the_server_never_imports_tensorflow(server, tmp_path):
    uri = METHOD1.resolve().as_uri()
    server.open(uri, METHOD1.read_text())
    server.diagnostics(uri, version=1)
    server.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 8, "character": 8}},
    )
    assert server.close() == 0
    log = (tmp_path / "stderr.log").read_text()
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in log.splitlines() if "|" in line
    }
    assert "pygls" in imported and "caegen" in imported
    assert not imported & {"tensorflow", "keras", "optuna"}


def test_without_pygls_the_command_says_which_extra_to_install():
    code = (
        "import sys; sys.modules['pygls'] = None; sys.argv = ['caegen', 'lsp']\n"
        "from caegen.cli import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "E066" in result.stderr and "caegen[lsp]" in result.stderr
    assert "Traceback" not in result.stderr


def test_incremental_changes_are_applied_as_an_editor_sends_them(server):
    """Editors send ranges, not whole texts (the server asks for incremental sync)."""
    uri = METHOD1.resolve().as_uri()
    text = METHOD1.read_text()
    server.open(uri, text)
    server.diagnostics(uri, version=1)
    line = next(i for i, row in enumerate(text.splitlines()) if "name: mpool1_1" in row)
    row = text.splitlines()[line]
    start = row.index("inputs: conv1_1") + len("inputs: ")
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": line, "character": start},
                        "end": {"line": line, "character": start + len("conv1_1")},
                    },
                    "text": "bnorm1_1",
                }
            ],
        },
    )
    _, message = server.diagnostics(uri, version=2)
    assert [d["code"] for d in message["params"]["diagnostics"]].count("E040") == 3


def test_a_version_whose_text_was_checked_before_is_published_too(server, tmp_path):
    """An undo back to a text already checked still gets its version's findings."""
    uri = (tmp_path / "undo.yaml").as_uri()
    text = METHOD1.read_text()
    server.open(uri, text)
    server.diagnostics(uri, version=1)
    server.change(uri, text + "# typed\n", 2)  # undone within the debounce: never checked
    server.change(uri, text, 3)
    _, message = server.diagnostics(uri, version=3, timeout=10)
    assert [d["code"] for d in message["params"]["diagnostics"]].count("E040") == 4


def test_a_spec_whose_numbers_overflowed_before_replaces_the_old_findings(server, tmp_path):
    """A deep stack of stride-2 layers (2^1200) and a stride of 1e400 once raised
    OverflowError in the check, and the editor kept showing the previous findings."""
    uri = (tmp_path / "deep.yaml").as_uri()
    server.open(uri, METHOD1.read_text())
    _, first = server.diagnostics(uri, version=1)
    assert "E040" in {d["code"] for d in first["params"]["diagnostics"]}
    deep = "".join(
        "  - {type: conv2d, filters: 1, kernel_size: 3, strides: 2}\n" for _ in range(1200)
    )
    text = (
        f"name: deep\ninput: [28, 28, 1]\nencoder:\n{deep}decoder:\n"
        "  - {type: conv2d_transpose, filters: 1, kernel_size: 3, strides: 28}\n"
    )
    server.change(uri, text, 2)
    _, second = server.diagnostics(uri, version=2)
    assert {d["code"] for d in second["params"]["diagnostics"]} == {"I106"}
    server.change(uri, text.replace("strides: 2}", "strides: 1e400}", 1), 3)
    _, third = server.diagnostics(uri, version=3)
    assert [d["code"] for d in third["params"]["diagnostics"]] == ["E012"]


def test_an_analysis_that_fails_is_published_as_e079_in_place_of_stale_findings(monkeypatch):
    """A bug in a pass must not leave an editor showing the previous version's findings."""
    import caegen.compile.compiler as compiler
    from caegen.editor.analysis import analyze

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in a pass")

    monkeypatch.setattr(compiler, "check", broken)
    analysis = analyze(METHOD1.read_text(), "method1.yaml")
    (d,) = analysis.diagnostics
    assert d.code == "E079" and "ZeroDivisionError: a bug in a pass" in d.message
    assert d.location.line == 1
