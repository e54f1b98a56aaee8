"""`caegen lsp`: a Language Server (pygls 2, stdio) for specs being typed.

It publishes caegen's findings on open, change and save; offers each finding's fixes as
code actions (and "fix all" for the safe ones); and shows a layer's output shape, params,
MACs and receptive field on hover. It never imports TensorFlow: a check of a 200-layer
spec takes milliseconds, so a change is checked after a short pause in typing (the
debounce); a newer change cancels a check still waiting, so stale versions are never
published.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import PositionCodec

from caegen.compile.fixes import fix_text
from caegen.core.diagnostics import Diagnostic, Edit, Location, Severity, internal_error
from caegen.core.version import __version__
from caegen.editor.analysis import (
    Analysis,
    analyze,
    hover_text,
    layer_at,
    span,
)

DEBOUNCE_S = 0.03
"""The pause in typing before a check: long enough to skip the keystrokes in between."""

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


@dataclass
class Checked:
    """The latest analysis of a document, for the version and text it was made from."""

    version: int | None
    text: str
    analysis: Analysis


class CaegenLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("caegen", __version__)
        self.checked: dict[str, Checked] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}

    def analysis_of(self, uri: str) -> Checked:
        """The document's analysis, made now if the text changed since the last one."""
        doc = self.workspace.get_text_document(uri)
        last = self.checked.get(uri)
        if last is None or last.text != doc.source:
            last = Checked(doc.version, doc.source, analyze(doc.source, _file(uri)))
        elif last.version != doc.version:  # e.g. an undo back to a text already checked
            last = Checked(doc.version, last.text, last.analysis)
        self.checked[uri] = last
        return last

    def schedule(self, uri: str, delay: float) -> None:
        """Check the document after `delay`, cancelling a check still waiting for it."""
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._publish(uri, delay))

    async def _publish(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        # nothing awaits from here on, so this is the editor's latest version: a newer
        # change would have cancelled this task during the debounce
        try:
            checked = self.analysis_of(uri)
            version = checked.version
            found = [
                to_lsp(self.workspace.position_codec, d, checked.text)
                for d in checked.analysis.diagnostics
            ]
        except Exception as exc:  # a bug: published in place of the previous findings
            version = self.workspace.get_text_document(uri).version
            found = [_whole_file(internal_error(exc, Location(_file(uri), 1, 1)))]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=found)
        )
        self.pending.pop(uri, None)


def _whole_file(d: Diagnostic) -> types.Diagnostic:
    """A finding about the document as a whole, on its first character."""
    start = types.Position(line=0, character=0)
    return types.Diagnostic(
        range=types.Range(start=start, end=start),
        severity=types.DiagnosticSeverity.Error,
        code=d.code,
        source="caegen",
        message=d.message + (f"\nhint: {d.hint}" if d.hint else ""),
    )


def _file(uri: str) -> str | None:
    path = to_fs_path(uri)
    return str(Path(path)) if path else None


def lsp_range(
    codec: PositionCodec, text: str, line: int, column: int, end_line: int, end_column: int
) -> types.Range:
    """1-based character positions as an LSP range in the client's units (UTF-16 unless
    the client asked for UTF-8 or UTF-32)."""
    points = types.Range(
        start=types.Position(line=line - 1, character=column - 1),
        end=types.Position(line=end_line - 1, character=end_column - 1),
    )
    return codec.range_to_client_units(text.splitlines(keepends=True), points)


def to_lsp(codec: PositionCodec, d: Diagnostic, text: str) -> types.Diagnostic:
    assert d.severity is not None
    return types.Diagnostic(
        range=lsp_range(codec, text, *span(text, d.location.line, d.location.column)),
        severity=_SEVERITY[d.severity],
        code=d.code,
        source="caegen",
        message=d.message + (f"\nhint: {d.hint}" if d.hint else ""),
    )


def text_edit(codec: PositionCodec, e: Edit, text: str) -> types.TextEdit:
    return types.TextEdit(
        range=lsp_range(codec, text, e.line, e.column, e.end_line, e.end_column),
        new_text=e.text,
    )


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def code_actions(
    codec: PositionCodec, uri: str, checked: Checked, wanted: types.Range
) -> list[types.CodeAction]:
    """Each fix of each finding under `wanted`, the first safe one preferred; and "fix
    all" for the document's safe fixes."""
    text = checked.text
    actions: list[types.CodeAction] = []
    for d in checked.analysis.diagnostics:
        if not d.fixes:
            continue
        shown = to_lsp(codec, d, text)
        if not _overlaps(shown.range, wanted):
            continue
        for i, fix in enumerate(d.fixes):
            unsafe = fix.applicability != "safe"
            actions.append(
                types.CodeAction(
                    title=f"{fix.title} ({d.code}{', changes the model' if unsafe else ''})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[shown],
                    is_preferred=i == 0 and not unsafe,
                    edit=types.WorkspaceEdit(
                        changes={uri: [text_edit(codec, e, text) for e in fix.edits]}
                    ),
                )
            )
    safe = any(f.applicability == "safe" for d in checked.analysis.diagnostics for f in d.fixes)
    # fix_text checks the text again: only worth it when this analysis found a safe fix
    fixed = fix_text(text, file=_file(uri)) if safe else None
    if fixed is not None and fixed.changed:
        lines = text.splitlines()
        whole = lsp_range(codec, text, 1, 1, len(lines) + 1, 1)
        actions.append(
            types.CodeAction(
                title="caegen: apply all safe fixes",
                kind=types.CodeActionKind.SourceFixAll,
                edit=types.WorkspaceEdit(
                    changes={uri: [types.TextEdit(range=whole, new_text=fixed.text)]}
                ),
            )
        )
    return actions


def hover(checked: Checked, position: types.Position) -> types.Hover | None:
    report = checked.analysis.report
    if report is None:
        return None
    line = position.line + 1
    node = layer_at(report, line)
    if node is None:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_text(report, node))
    )


def make_server() -> CaegenLanguageServer:
    server = CaegenLanguageServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CaegenLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CaegenLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, DEBOUNCE_S)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: CaegenLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CaegenLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        waiting = ls.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        ls.checked.pop(uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll]
        ),
    )
    def code_action(
        ls: CaegenLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        uri = params.text_document.uri
        return code_actions(ls.workspace.position_codec, uri, ls.analysis_of(uri), params.range)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: CaegenLanguageServer, params: types.HoverParams) -> types.Hover | None:
        return hover(ls.analysis_of(params.text_document.uri), params.position)

    return server


def serve() -> None:
    make_server().start_io()
