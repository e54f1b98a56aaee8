"""Reports and diagnostics as `Styled` text: what `caegen check` and every error print."""

from __future__ import annotations

from typing import Any

from caegen.cli.terminal import Styled, Terminal, cell_width
from caegen.compile.compiler import Report
from caegen.compile.graph import Node
from caegen.compile.passes.shapes import RF_CAP
from caegen.core.diagnostics import CaegenError, Diagnostic, Severity
from caegen.core.inputs import read_input_text
from caegen.spec.layers import fmt_shape
from caegen.spec.textspan import lines_of

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def diagnostic_line(d: Diagnostic) -> str:
    """`file:line:col: CODE severity: message` (the stable one-line text form)."""
    sev = d.severity.value if d.severity else ""
    return f"{d.location.prefix()}: {d.code} {sev}: {d.message}"


def _file_text(path: str) -> str | None:
    """The spec's text for a snippet, when the diagnostic's file can still be read (a FIFO
    reads as empty once its writer is gone, never blocking)."""
    try:
        return read_input_text(path)
    except CaegenError:
        return None


def diagnostic_text(d: Diagnostic, source: str | None = None) -> Styled:
    """A diagnostic as it is printed: its line, the spec's line with a caret, its hint."""
    assert d.severity is not None
    text = Styled()
    text.append(f"{d.location.prefix()}: ", style="bold")
    text.append(f"{d.code} {d.severity.value}", style=STYLE[d.severity])
    text.append(f": {d.message}")
    if source is None and d.location.line and d.location.file:
        source = _file_text(d.location.file)
    if source and d.location.line:
        lines = lines_of(source)  # cached: thousands of findings share one text
        if 0 < d.location.line <= len(lines):
            gutter = f"{d.location.line:>5} | "
            text.append("\n" + gutter + lines[d.location.line - 1], style="dim")
            if d.location.column:
                text.append("\n" + " " * (len(gutter) + d.location.column - 1) + "^", style="dim")
    if d.hint:
        text.append("\n  hint: ", style="green")
        text.append(d.hint)
    return text


def print_diagnostic(out: Terminal, d: Diagnostic, source: str | None = None) -> None:
    out.print(diagnostic_text(d, source))


def diagnostic_texts(diagnostics: list[Diagnostic], source: str | None = None) -> list[Styled]:
    """Each diagnostic as `diagnostic_text` prints it, the file they point into read once
    for all of them (once for each of a large spec's thousands of findings was quadratic)."""
    texts: dict[str, str] = {}
    shown = []
    for d in diagnostics:
        text = source
        if text is None and d.location.line and d.location.file:
            if d.location.file not in texts:
                texts[d.location.file] = _file_text(d.location.file) or ""
            text = texts[d.location.file]
        shown.append(diagnostic_text(d, text))
    return shown


Cell = str | Styled


def aligned_table(
    columns: list[tuple[str, str]],
    rows: list[list[Cell]],
    row_styles: list[str | None] | None = None,
    title: str | None = None,
) -> Styled:
    """Columns padded to their widest cell, two spaces apart, one line per row.

    rich's Table measures and wraps every cell: about 2 ms a row, seconds for a spec of
    thousands of layers. Layer tables never need wrapping, so plain padding does; rows
    are joined as strings, a styled piece per cell being slow too.
    """
    header: list[Cell] = [name for name, _ in columns]
    widths = [max(cell_width(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    right = [justify == "right" for _, justify in columns]
    out = Styled()
    if title:
        out.append(title + "\n", style="italic")
    styles = ["bold", *(row_styles or [None] * len(rows))]
    for line, style in zip([header, *rows], styles, strict=True):
        pieces: list[Cell] = []
        for i, (cell, width, is_right) in enumerate(zip(line, widths, right)):
            pad = " " * (width - cell_width(str(cell)))
            pieces += ["  " if i else "", *((pad, cell) if is_right else (cell, pad))]
        if all(isinstance(p, str) for p in pieces):
            out.append("".join(pieces).rstrip(), style=style or "")  # type: ignore[arg-type]
        else:  # a styled cell (summary --keras: the agree mark)
            row = Styled(style=style or "")
            for piece in pieces:
                if isinstance(piece, Styled):
                    row.append_text(piece)
                else:
                    row.append(piece)
            row.rstrip()
            out.append_text(row)
        out.append("\n")
    out.rstrip()
    return out


def _inputs_cell(node: Node) -> str:
    """The layer's inputs, each with its role where position matters (a VAE's mean/log-var)."""
    roles = node.layer.input_roles if node.layer is not None else ()
    if len(roles) != len(node.inputs):
        return ", ".join(node.inputs)
    return ", ".join(f"{name} ({role})" for name, role in zip(node.inputs, roles, strict=True))


def layer_table(report: Report, title: str | None = None) -> Styled:
    columns = [
        ("#", "left"),
        ("name", "left"),
        ("type", "left"),
        ("inputs", "left"),
        ("output", "right"),
        ("params", "right"),
        ("non-train", "right"),
        ("MACs", "right"),
    ]
    rows: list[list[Cell]] = []
    styles: list[str | None] = []
    for node in report.layers():
        p = node.params
        rows.append(
            [
                node.path,
                node.name + (" (dead)" if node.dead else ""),
                node.type,
                _inputs_cell(node),
                fmt_shape(node.shape),
                "" if p is None else f"{p.total:,}",
                "" if p is None or not p.non_trainable else f"{p.non_trainable:,}",
                f"{node.macs:,}" if node.macs else "",
            ]
        )
        styles.append("strike dim" if node.dead else None)
    return aligned_table(columns, rows, styles, title=title)


def summary_table(report: Report, agreements: list[Any] | None = None) -> Styled:
    names = ["name", "type", "output", "trainable", "non-trainable", "MACs"]
    if agreements is not None:
        names += ["keras output", "keras params", "agree"]
    columns = [(n, "left" if n in ("name", "type") else "right") for n in names]
    by_name = {a.name: a for a in agreements or []}
    rows: list[list[Cell]] = []
    for node in report.layers():
        if not node.live:
            continue
        p = node.params
        row: list[Cell] = [
            node.name,
            node.type,
            fmt_shape(node.shape),
            f"{p.trainable:,}" if p else "",
            f"{p.non_trainable:,}" if p else "",
            f"{node.macs:,}",
        ]
        if agreements is not None:
            a = by_name[node.name]
            row += [
                fmt_shape(a.keras_shape),
                f"{sum(a.keras_params):,}",
                Styled("✓", style="green") if a.agrees else Styled("✗", style="red"),
            ]
        rows.append(row)
    return aligned_table(columns, rows)


def _receptive_field_line(rf: tuple[int, int], input_shape: tuple[int, ...] | None) -> str:
    shown = "x".join(f">={RF_CAP:,.0f}" if side >= RF_CAP else str(side) for side in rf)
    line = f"receptive field  {shown} input pixels per latent unit"
    if input_shape and (rf[0] > input_shape[0] or rf[1] > input_shape[1]):
        line += f" (wider than the {fmt_shape(input_shape[:2])} input: it covers the padding)"
    return line


def _vae_line(report: Report) -> str:
    """A VAE's latent and its KL weight ("" for other autoencoders)."""
    from caegen.compile.passes.variational import is_variational

    if report.graph is None or report.spec is None or not is_variational(report.graph):
        return ""
    train = report.spec.train
    warmup = f", warmed up over {train.kl_warmup_epochs} epochs" if train.kl_warmup_epochs else ""
    return (
        f"VAE              {report.latent_size or 0:,} latent units sampled from N(mean, var); "
        f"KL weight {train.kl_weight:g}{warmup}"
    )


def summary_totals(report: Report) -> list[str]:
    p = report.params
    rf = report.receptive_field
    ratio = report.compression_ratio
    return [
        f"params           {p.total:,} total, {p.trainable:,} trainable, "
        f"{p.non_trainable:,} non-trainable",
        f"MACs per sample  {report.macs:,}",
        f"activations      {report.activation_bytes / 1024:,.1f} KiB per sample (float32)",
        f"latent           {fmt_shape(report.latent_shape)} = {report.latent_size or 0:,} values"
        + (
            f", {ratio:.2f}x compression of the {fmt_shape(report.graph.input_shape)} input"
            if ratio and report.graph
            else ""
        ),
        _receptive_field_line(rf, report.graph.input_shape if report.graph else None) if rf else "",
        _vae_line(report),
        "decoder          "
        + (
            "separable (latent -> reconstruction)"
            if report.decoder_separable
            else "not separable (skip connections)"
        ),
    ]


def print_report(
    out: Terminal, report: Report, *, table: bool = True, strict: bool = False
) -> None:
    if table and report.graph is not None:
        out.print(layer_table(report, title=report.file))
    source = report.spec.source.text if report.spec and report.spec.source else None
    if report.diagnostics:
        found = Styled("\n").join(diagnostic_texts(report.diagnostics, source))
        out.print(found)
    out.print(verdict_line(report, strict))


def verdict_line(report: Report, strict: bool = False) -> Styled:
    """`OK file: ...` or `FAILED file: ...`: one line per file, saying why it failed."""
    if report.passed(strict):
        return Styled(report.ok_line(), style="bold green")
    n_err, n_warn = len(report.errors), len(report.warnings)
    line = f"FAILED {report.file or 'spec'}: {n_err} error(s), {n_warn} warning(s)"
    if report.ok:
        line += " (--strict: warnings fail the check)"
    if report.graph is not None and report.params_known:
        line += f"; the live graph Keras would build has {report.params.total:,} params"
    return Styled(line + report.suppressed_note(), style="bold red")
