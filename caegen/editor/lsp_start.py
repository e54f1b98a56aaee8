"""The Language Server's start: the first findings before pygls is even imported.

An editor starts `caegen lsp` when it opens a spec and shows nothing until the findings
come. Importing pygls and lsprotocol (its types module alone) takes longer than loading
caegen's checker and checking the spec, so the server starts without them: it answers
`initialize` with the capabilities pygls would announce, checks the first document opened,
publishes its findings, and only then imports pygls. The messages read so far are replayed
to pygls (its own answer to `initialize`, already given, is dropped), and pygls serves the
rest of the session from there.

Only JSON, the standard library and caegen's static checker are used before the hand-over.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, BinaryIO

from caegen.core.version import __version__
from caegen.editor.analysis import CODE_ACTION_KINDS, analyze, span

_HEADER = re.compile(rb"^Content-Length: *(\d+)\r?\n$", re.IGNORECASE)
ENCODINGS = ("utf-8", "utf-16", "utf-32")
"""The position encodings pygls supports, as it chooses them: the client's first one."""
SEVERITY = {"error": 1, "warning": 2, "info": 3}


def read_message(stream: BinaryIO) -> tuple[bytes, Any] | None:
    """One JSON-RPC message from an LSP stream: its raw bytes and its content (None when the
    body is not JSON: pygls answers that)."""
    raw = bytearray()
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        raw += line
        match = _HEADER.match(line)
        if match:
            length = int(match.group(1))
        elif line in (b"\r\n", b"\n") and length is not None:
            break
    body = stream.read(length)
    raw += body
    try:
        return bytes(raw), json.loads(body)
    except ValueError:
        return bytes(raw), None


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stream.flush()


def position_encoding(params: dict[str, Any]) -> str:
    offered = ((params.get("capabilities") or {}).get("general") or {}).get("positionEncodings")
    for encoding in offered or ():
        if encoding in ENCODINGS:
            return encoding
    return "utf-16"


def initialize_result(params: dict[str, Any]) -> dict[str, Any]:
    """What pygls answers for caegen's server (a test compares the two)."""
    sync: dict[str, Any] = {"openClose": True, "change": 2}
    offered = ((params.get("capabilities") or {}).get("textDocument") or {}).get(
        "synchronization"
    ) or {}
    for key in ("willSave", "willSaveWaitUntil"):  # false (not served) when the client asks
        if offered.get(key) is not None:
            sync[key] = False
    sync["save"] = True
    return {
        "capabilities": {
            "positionEncoding": position_encoding(params),
            "textDocumentSync": sync,
            "hoverProvider": True,
            "codeActionProvider": {"codeActionKinds": list(CODE_ACTION_KINDS)},
            "executeCommandProvider": {"commands": []},
            "workspace": {
                "workspaceFolders": {"supported": True, "changeNotifications": True},
                "fileOperations": {},
            },
        },
        "serverInfo": {"name": "caegen", "version": __version__},
    }


def client_units(text: str, line: int, column: int, encoding: str) -> dict[str, int]:
    """A 1-based line and character column as an LSP position in the client's units."""
    lines = text.splitlines()
    before = lines[line - 1][: column - 1] if 0 < line <= len(lines) else ""
    if encoding == "utf-32":
        units = len(before)
    elif encoding == "utf-8":
        units = len(before.encode("utf-8"))
    else:
        units = len(before.encode("utf-16-le")) // 2
    return {"line": line - 1, "character": units}


def diagnostics(text: str, file: str | None, encoding: str) -> list[dict[str, Any]]:
    """The document's findings as LSP diagnostics, as `caegen.editor.lsp.to_lsp` makes them."""
    out = []
    for d in analyze(text, file).diagnostics:
        line, column, end_line, end_column = span(text, d.location.line, d.location.column)
        out.append(
            {
                "range": {
                    "start": client_units(text, line, column, encoding),
                    "end": client_units(text, end_line, end_column, encoding),
                },
                "severity": SEVERITY[d.severity.value if d.severity else "error"],
                "code": d.code,
                "source": "caegen",
                "message": d.message + (f"\nhint: {d.hint}" if d.hint else ""),
            }
        )
    return out


def serve(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Answer the start of the session, then hand the rest to pygls."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    replay = bytearray()
    initialize_id = None
    encoding = "utf-16"
    published: dict[str, tuple[Any, str]] = {}
    while True:
        read = read_message(stdin)
        if read is None:
            return  # the editor went away before anything happened
        raw, message = read
        replay += raw
        if not isinstance(message, dict):
            break  # not a request this start answers: pygls answers it
        method = message.get("method")
        if method == "initialize" and initialize_id is None:
            initialize_id, params = message.get("id"), message.get("params") or {}
            encoding = position_encoding(params)
            write_message(stdout, {"id": initialize_id, "result": initialize_result(params)})
        elif method == "initialized":
            continue
        elif method == "textDocument/didOpen" and initialize_id is not None:
            document = (message.get("params") or {}).get("textDocument")
            if not _is_document(document):
                break
            _publish(stdout, document, encoding)
            published[document["uri"]] = (document.get("version"), document["text"])
            break
        else:
            break  # anything else is pygls's to answer
    _hand_over(bytes(replay), stdin, stdout, initialize_id, published)


def _is_document(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("uri"), str)
        and isinstance(document.get("text"), str)
    )


def file_of(uri: str) -> str | None:
    """The path of a `file:` URI (None for other schemes)."""
    from urllib.parse import unquote, urlparse
    from urllib.request import url2pathname

    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return url2pathname(unquote(parsed.path))


def _publish(stdout: BinaryIO, document: dict[str, Any], encoding: str) -> None:
    uri, text = document["uri"], document["text"]
    params = {
        "uri": uri,
        "version": document.get("version"),
        "diagnostics": diagnostics(text, file_of(uri), encoding),
    }
    write_message(stdout, {"method": "textDocument/publishDiagnostics", "params": params})


def _hand_over(
    replay: bytes,
    stdin: BinaryIO,
    stdout: BinaryIO,
    initialize_id: Any,
    published: dict[str, tuple[Any, str]],
) -> None:
    from caegen.editor.lsp import make_server

    server = make_server(published=published)
    server.start_io(stdin=Replayed(replay, stdin), stdout=Answered(stdout, initialize_id))


class Replayed:
    """A stream that gives `first` (whole messages already read), then `rest`."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self.first, self.at, self.rest = first, 0, rest

    def readline(self) -> bytes:
        if self.at < len(self.first):
            end = self.first.find(b"\n", self.at)
            end = len(self.first) if end < 0 else end + 1
            line, self.at = self.first[self.at : end], end
            return line
        return self.rest.readline()

    def read(self, n: int) -> bytes:
        if self.at < len(self.first):
            chunk = self.first[self.at : self.at + n]
            self.at += len(chunk)
            return chunk + (self.rest.read(n - len(chunk)) if len(chunk) < n else b"")
        return self.rest.read(n)


class Answered:
    """stdout, less pygls's answer to the `initialize` request answered already."""

    def __init__(self, stream: BinaryIO, initialize_id: Any) -> None:
        self.stream, self.initialize_id = stream, initialize_id

    def write(self, data: bytes) -> int:
        if self.initialize_id is not None:
            body = data.partition(b"\r\n\r\n")[2]
            try:
                message = json.loads(body)
            except ValueError:
                message = None
            is_answer = isinstance(message, dict) and "method" not in message
            if is_answer and message.get("id") == self.initialize_id:
                self.initialize_id = None
                return len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()
