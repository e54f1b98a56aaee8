"""`caegen lsp`'s start: the first findings are published before pygls is imported, and say
what pygls's server says; pygls then serves the rest of the session."""

from __future__ import annotations

import json
import sys

import pytest

from caegen.editor.lsp_start import initialize_result
from tests.conftest import SPECS
from tests.lsp_client import LspProcess

pytest.importorskip("pygls")

METHOD1 = SPECS / "cifar10_method1_bug.yaml"

# The server as `caegen lsp` starts it, with stdout watched and an import hook that says
# whether lsprotocol or pygls came before or after the first findings were written.
WATCHED = """
import importlib.abc, sys
written = {"findings": False}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("lsprotocol", "pygls") and not written.get(name):
            written[name] = True
            when = "after" if written["findings"] else "before"
            sys.stderr.write(f"import {name} {when} the first findings\\n")
        return None
sys.meta_path.insert(0, Watch())
class Out:
    def write(self, data):
        written["findings"] |= b"publishDiagnostics" in data
        return sys.stdout.buffer.write(data)
    def flush(self):
        sys.stdout.buffer.flush()
    def close(self):
        sys.stdout.buffer.close()
from caegen.editor.lsp_start import serve
serve(sys.stdin.buffer, Out())
"""


def started(tmp_path, capabilities=None) -> LspProcess:
    server = LspProcess(tmp_path / "stderr.log", command=[sys.executable, "-c", WATCHED])
    server.request(
        "initialize",
        {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": capabilities or {}},
    )
    server.notify("initialized", {})
    return server


def test_the_first_findings_come_before_pygls_is_imported(tmp_path):
    server = started(tmp_path)
    uri = METHOD1.resolve().as_uri()
    server.open(uri, METHOD1.read_text())
    _, first = server.diagnostics(uri, version=1)
    assert [d["code"] for d in first["params"]["diagnostics"]].count("E040") == 4
    # pygls serves the rest: a hover, and a change checked again
    hover = server.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 8, "character": 8}},
    )
    assert "bnorm1_1" in hover["contents"]["value"]
    server.change(uri, METHOD1.read_text() + "# edited\n", 2)
    _, second = server.diagnostics(uri, version=2)
    assert second["params"]["diagnostics"] == first["params"]["diagnostics"]
    assert server.close() == 0
    log = (tmp_path / "stderr.log").read_text()
    assert "import lsprotocol after the first findings" in log
    assert "import pygls after the first findings" in log
    assert "before" not in log
    assert server.skipped.count(first) == 0  # published once, not again by pygls
    assert not [m for m in server.skipped if m.get("id") == 1]  # one answer to initialize


@pytest.mark.parametrize("encoding", [None, "utf-8", "utf-32"])
def test_the_first_findings_equal_pygls_s_in_the_clients_units(tmp_path, encoding):
    """Ranges after a character outside the BMP: 2 UTF-16 units, 4 UTF-8 bytes, 1 char."""
    capabilities = {"general": {"positionEncodings": [encoding]}} if encoding else {}
    text = METHOD1.read_text().replace(
        "{type: batch_norm, name: bnorm1_1}", "{name: bnorm1_1, type: batch_norm, ignore: [😀]}"
    )
    server = started(tmp_path, capabilities)
    uri = (tmp_path / "emoji.yaml").as_uri()
    server.open(uri, text)
    _, first = server.diagnostics(uri, version=1)
    server.change(uri, text + "#\n", 2)  # checked by pygls's server this time
    _, second = server.diagnostics(uri, version=2)
    server.close()
    found = first["params"]["diagnostics"]
    assert found == second["params"]["diagnostics"]
    (ignore,) = [d for d in found if d["range"]["start"]["line"] == 8 and d["code"] == "E012"]
    start, end = ignore["range"]["start"]["character"], ignore["range"]["end"]["character"]
    assert start == text.splitlines()[8].index("😀")  # ASCII before it: the same in any unit
    assert end - start == {None: 2, "utf-8": 4, "utf-32": 1}[encoding]


@pytest.mark.parametrize(
    "capabilities",
    [
        {},
        {"general": {"positionEncodings": ["utf-8", "utf-16"]}},
        {"general": {"positionEncodings": ["utf-32"]}},
        {"textDocument": {"synchronization": {"willSave": True, "didSave": True}}},
        {"textDocument": {"synchronization": {"willSaveWaitUntil": False}}},
    ],
)
def test_initialize_answers_what_pygls_would(capabilities):
    from lsprotocol import types

    from caegen.editor.lsp import make_server

    protocol = make_server().protocol
    params = {"processId": 1, "rootUri": "file:///tmp", "capabilities": capabilities}
    steps = protocol.lsp_initialize(protocol._converter.structure(params, types.InitializeParams))
    try:
        while True:
            next(steps)
    except StopIteration as done:
        expected = protocol._converter.unstructure(done.value)
    assert json.loads(json.dumps(initialize_result(params))) == expected
