"""A minimal LSP client over stdio (JSON-RPC with Content-Length framing), for tests and
the latency benchmark: it starts `caegen lsp` (or another server) as a real process and
timestamps what comes back."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class LspProcess:
    def __init__(
        self,
        stderr_path: Path,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "caegen", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={**os.environ, **(env or {})},
        )
        self.messages: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.next_id = 0
        self.skipped: list[dict[str, Any]] = []
        """Messages `wait` passed over, oldest first."""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            self.messages.put((time.perf_counter(), json.loads(out.read(length))))

    def send(self, message: dict[str, Any]) -> float:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        sent = time.perf_counter()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return sent

    def notify(self, method: str, params: Any) -> float:
        return self.send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        _, message = self.wait(lambda m: m.get("id") == self.next_id, timeout)
        assert "error" not in message, message
        return message.get("result")

    def wait(self, match: Any, timeout: float = 30) -> tuple[float, dict[str, Any]]:
        """The first message `match` accepts (earlier ones go to `skipped`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise queue.Empty
                at, message = self.messages.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("no matching message from the server") from None
            if match(message):
                return at, message
            self.skipped.append(message)

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 30) -> Any:
        def match(m: dict[str, Any]) -> bool:
            p = m.get("params") or {}
            return (
                m.get("method") == "textDocument/publishDiagnostics"
                and p.get("uri") == uri
                and (version is None or p.get("version") == version)
            )

        return self.wait(match, timeout)

    def initialize(self, root: Path) -> Any:
        result = self.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}},
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": version, "text": text}},
        )

    def change(self, uri: str, text: str, version: int) -> float:
        return self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def close(self) -> int:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.stderr.close()
