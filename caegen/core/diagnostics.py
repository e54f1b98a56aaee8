"""Diagnostics are data: a code, a severity, a message, a location and a hint.

Rules and passes only *report* diagnostics; renderers (text, json) live in `caegen.render`.
Every code is registered once in `CODES` and documented in docs/diagnostics.md.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class CodeInfo:
    code: str
    name: str
    severity: Severity
    summary: str
    keras_accepts_silently: bool = False
    """True when Keras builds such a model without complaint (caegen is stricter on purpose)."""


def _codes(*infos: CodeInfo) -> dict[str, CodeInfo]:
    return {info.code: info for info in infos}


E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO

CODES: dict[str, CodeInfo] = _codes(
    # input: files, YAML, schema
    CodeInfo(
        "E001",
        "file-not-found",
        E,
        "An input file (a spec, a space file) does not exist or cannot be read as text.",
    ),
    CodeInfo("E002", "yaml-syntax", E, "The file is not valid YAML."),
    CodeInfo("E003", "yaml-duplicate-key", E, "A mapping repeats a key; YAML would keep the last."),
    CodeInfo("E010", "unknown-layer-type", E, "A layer's `type` is not a known layer type."),
    CodeInfo("E011", "unknown-field", E, "A key that the schema does not define."),
    CodeInfo("E012", "invalid-value", E, "A value of the wrong type or out of range."),
    CodeInfo("E013", "missing-field", E, "A required key is missing."),
    # wiring
    CodeInfo("E020", "unknown-reference", E, "`inputs` names a layer that does not exist."),
    CodeInfo("E021", "duplicate-name", E, "Two layers share a name."),
    CodeInfo("E022", "forward-reference", E, "`inputs` names a layer defined later."),
    CodeInfo("E023", "cycle", E, "Layers read each other in a cycle."),
    CodeInfo(
        "E024",
        "input-arity",
        E,
        "A single-input layer given several inputs (some Keras layers stack the list into "
        "one tensor without complaint).",
        keras_accepts_silently=True,
    ),
    CodeInfo(
        "E025",
        "merge-arity",
        E,
        "A merge layer (add, concatenate) with fewer than 2 inputs (Keras passes it through).",
        keras_accepts_silently=True,
    ),
    # shapes
    CodeInfo("E030", "shape-error", E, "A layer cannot be applied to the shape it receives."),
    CodeInfo(
        "E031",
        "reconstruction-shape",
        E,
        "The decoder output shape differs from the input (Keras builds it; fit then fails, "
        "or broadcasts size-1 axes silently).",
        keras_accepts_silently=True,
    ),
    CodeInfo(
        "E032",
        "empty-feature-map",
        E,
        "A layer produces a spatial size of 0.",
        keras_accepts_silently=True,
    ),
    CodeInfo(
        "E034",
        "data-channels",
        E,
        "The data source cannot give the input's channel count.",
        keras_accepts_silently=True,
    ),
    # graph semantics Keras does not check
    CodeInfo(
        "E040",
        "dead-branch",
        E,
        "A layer whose output never reaches the reconstruction (Keras drops it silently).",
        keras_accepts_silently=True,
    ),
    CodeInfo(
        "E041",
        "latent-bypass",
        E,
        "The reconstruction does not depend on the latent code.",
        keras_accepts_silently=True,
    ),
    CodeInfo(
        "E042",
        "sampling-misplaced",
        E,
        "A VAE's sampling layer is not the latent code, or there are several.",
    ),
    # commands: runs, data, export
    CodeInfo("E050", "output-exists", E, "An output file or run directory exists; not replaced."),
    CodeInfo("E051", "unknown-template", E, "`caegen init` was given an unknown template."),
    CodeInfo("E052", "run-not-found", E, "The run directory is missing or incomplete."),
    CodeInfo("E053", "data-unavailable", E, "The data source cannot be loaded (file, network)."),
    CodeInfo("E054", "export-mismatch", E, "ONNX Runtime and Keras disagree beyond the tolerance."),
    CodeInfo("E055", "training-diverged", E, "The loss became NaN or infinite; training stopped."),
    CodeInfo("E056", "export-unavailable", E, "The requested part cannot be exported."),
    CodeInfo("E057", "output-unwritable", E, "An output path cannot be created or written."),
    CodeInfo("E058", "run-complete", E, "The run has finished the requested epochs already."),
    CodeInfo(
        "E059",
        "run-file-damaged",
        E,
        "A file in a run or sweep directory cannot be read back intact.",
    ),
    CodeInfo("E060", "run-in-use", E, "A live process is training the run; one writer at a time."),
    CodeInfo(
        "E061",
        "resume-mismatch",
        E,
        "A resumed run was given a spec or settings other than the ones it was trained with.",
    ),
    CodeInfo(
        "E062",
        "training-failed",
        E,
        "TensorFlow stopped training with an error (e.g. out of memory, a missing kernel); "
        "the run is marked failed.",
    ),
    CodeInfo(
        "E063",
        "out-of-memory",
        E,
        "A training step or the model's weights would not fit in the available memory.",
    ),
    CodeInfo(
        "E064",
        "sweep-space",
        E,
        "A sweep's space or `train --set` names a path the spec does not have, or values it "
        "cannot take.",
    ),
    CodeInfo(
        "E065",
        "not-generative",
        E,
        "`caegen sample` was asked to draw from a prior the model does not have.",
    ),
    CodeInfo(
        "E066",
        "missing-extra",
        E,
        "A command needs an optional extra that is not installed (e.g. `caegen[lsp]`).",
    ),
    CodeInfo(
        "E067",
        "sweep-storage",
        E,
        "A sweep's database cannot be used: not a database URL, unreachable, or not the one "
        "the sweep was started with.",
    ),
    CodeInfo(
        "E068",
        "distribute-config",
        E,
        "The distribution strategy asked for cannot be set up (e.g. multi-worker without "
        "TF_CONFIG, or a TF_CONFIG that is not a cluster).",
    ),
    # the command-line boundary
    CodeInfo(
        "E075",
        "os-error",
        E,
        "A file, folder or standard stream the command uses failed for an operating-system "
        "reason (permission, a folder or FIFO where a file belongs, a name too long, a full "
        "disk, a closed standard input).",
    ),
    CodeInfo(
        "E076",
        "output-stream",
        E,
        "Standard output cannot be written (closed, a full disk, a reader that went away).",
    ),
    CodeInfo(
        "E077",
        "usage",
        E,
        "The command line is malformed: an unknown option, a missing argument, a value of "
        "the wrong type or out of range.",
    ),
    CodeInfo(
        "E078",
        "port-in-use",
        E,
        "A multi-worker task's address names a port that another process holds.",
    ),
    CodeInfo(
        "E079",
        "internal-error",
        E,
        "caegen failed in a way it does not anticipate (a bug): the message names the "
        "exception; set CAEGEN_TRACEBACK=1 to see the traceback, and please report it.",
    ),
    CodeInfo(
        "E080",
        "output-in-run",
        E,
        "An output path is a run directory or inside one (`compare --out`, `score --out`, "
        "`export PATH`): a run's own files are never written by other commands.",
    ),
    CodeInfo(
        "E081",
        "compare-option",
        E,
        "`caegen compare` was given a `--baseline` that is neither a compared run nor a "
        "group, or an unknown metric.",
    ),
    # commands: inspect
    CodeInfo(
        "E090",
        "inspect-layer-unknown",
        E,
        "`caegen inspect --layers` (or `compare --inspect`) names a layer the run's model does "
        "not have.",
    ),
    CodeInfo(
        "E091",
        "weights-not-drawable",
        E,
        "A dense layer asked for by `caegen inspect` whose weights have no image shape (it "
        "reads no flattened feature map and feeds no reshape).",
    ),
    CodeInfo(
        "E092",
        "inspect-image",
        E,
        "The image to inspect cannot be used: past the test split, not a decodable image "
        "file, or not the input the compared runs take.",
    ),
    CodeInfo(
        "E070",
        "sweep-run-outside",
        E,
        "A sweep's database names a run directory outside the sweep folder (or another "
        "point's run): refused, never read, trained or removed.",
    ),
    CodeInfo(
        "E071",
        "sweep-too-large",
        E,
        "A sweep's grid or block count is over its cap, or its search has no end; checked "
        "before any work.",
    ),
    CodeInfo(
        "E072",
        "sweep-storage-not-persistent",
        E,
        "A sweep's storage would not outlive the process (an in-memory SQLite URL).",
    ),
    CodeInfo(
        "E073",
        "sweep-nothing-finished",
        E,
        "A sweep ended without a finished point: every point was invalid or failed.",
    ),
    CodeInfo(
        "E074",
        "sweep-points-lost",
        E,
        "A sweep ended with points lost (orphaned, or left queued) or a worker process failed.",
    ),
    # anomaly detection
    CodeInfo(
        "E093",
        "one-class-labels",
        E,
        "`data.normal` lists every label the test split can hold (all that `data.classes` "
        "keeps, or all the source has): no test image is anomalous, so AUROC, AUPRC and AUPRO "
        "are undefined.",
    ),
    CodeInfo(
        "E094",
        "anomaly-test-one-kind",
        E,
        "`sweep --objective auroc|aupro` on data whose test split holds only normal or only "
        "anomalous images (a data.eval_limit, an MVTec folder without good/ or defects): "
        "refused before any point trains.",
    ),
    CodeInfo(
        "E095",
        "ssim-window",
        E,
        "`loss: ssim` on images smaller than its 11x11 window (SSIM is not defined there).",
    ),
    CodeInfo(
        "E096",
        "score-input",
        E,
        "Images or masks given to `caegen score` do not fit the model or each other: none "
        "found, another shape or channel count, a mask without its image or of another size.",
    ),
    CodeInfo(
        "E097",
        "anomaly-labels-missing",
        E,
        "A metric or objective needs labels (AUROC) or pixel masks (AUPRO) that the data "
        "does not have.",
    ),
    # lints from practice
    CodeInfo("W101", "output-range", W, "Output activation cannot produce the data range."),
    CodeInfo(
        "W102", "loss-activation", W, "The loss does not suit the output activation or range."
    ),
    CodeInfo("W103", "batch-norm-after-activation", W, "Batch norm placed after a non-linearity."),
    CodeInfo("W104", "overcomplete-latent", W, "Latent code not smaller than the input, no noise."),
    CodeInfo("W105", "skip-bypasses-bottleneck", W, "A decoder layer reads an encoder layer."),
    CodeInfo("I106", "tiny-bottleneck", N, "The latent feature map is 4x4 or smaller."),
    CodeInfo("I107", "dense-in-conv-autoencoder", N, "Dense layers in a convolutional AE."),
    CodeInfo("I108", "decoder-not-separable", N, "The decoder cannot be built as its own model."),
    CodeInfo(
        "W109",
        "backend-dependent-op",
        W,
        "A layer that runs only where TensorFlow has a kernel for it (a dilated "
        "conv2d_transpose, unequal strides on a separable or depthwise conv: oneDNN CPU "
        "builds run them, the default CPU kernels do not).",
    ),
    CodeInfo("I110", "unused-suppression", N, "An `ignore` in the spec matches no finding."),
    CodeInfo(
        "W111",
        "dense-on-feature-map",
        W,
        "A dense layer on an H x W x C map acts per pixel, yet the spec treats it as a vector.",
    ),
    # comparisons
    CodeInfo(
        "I113",
        "interval-clipped",
        N,
        "`caegen compare`: a group's 95% t-interval over few repeats ran past what its "
        "metric can take (an SSIM above 1, a negative MSE); it is clipped to the range and "
        "marked `clipped` (`ci_clipped` in JSON and CSV).",
    ),
    CodeInfo(
        "W114",
        "duplicate-run",
        W,
        "`caegen compare` was given one run twice (two paths, a symlink) or a copy of a run "
        "(the same spec, seed and per-image scores): it counts once and the duplicate is "
        "listed as skipped, so the repeats of a group are not inflated.",
    ),
    CodeInfo(
        "W112",
        "anomaly-metrics-undefined",
        W,
        "`train` or `score` on labelled anomaly data whose test split (or images scored) holds "
        "only normal or only anomalous images: AUROC, AUPRC and AUPRO are undefined, not written.",
    ),
)


@dataclass(frozen=True)
class Location:
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None
    """The spec path of the layer or key, e.g. `encoder[3].filters`."""

    def prefix(self) -> str:
        parts = [self.file or "caegen"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, column) up to (end_line, end_column) (1-based, the end
    exclusive) with `text`."""

    line: int
    column: int
    end_line: int
    end_column: int
    text: str

    def to_dict(self) -> dict[str, object]:
        return {
            "start": {"line": self.line, "column": self.column},
            "end": {"line": self.end_line, "column": self.end_column},
            "text": self.text,
        }


@dataclass(frozen=True)
class Fix:
    """A proposed change to the spec's text. `safe`: behaviour-preserving or certainly
    intended; `unsafe`: it changes the model. Rules propose, `caegen.compile.fixes` applies."""

    title: str
    edits: tuple[Edit, ...]
    applicability: str = "safe"

    def to_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "applicability": self.applicability,
            "edits": [e.to_dict() for e in self.edits],
        }


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    location: Location = field(default_factory=Location)
    hint: str | None = None
    severity: Severity | None = None
    """Defaults to the code's registered severity."""
    fixes: tuple[Fix, ...] = ()

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise KeyError(f"unregistered diagnostic code {self.code}")
        if self.severity is None:
            object.__setattr__(self, "severity", CODES[self.code].severity)

    @property
    def name(self) -> str:
        return CODES[self.code].name

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value if self.severity else None,
            "message": self.message,
            "hint": self.hint,
            "location": {
                "file": loc.file,
                "line": loc.line,
                "column": loc.column,
                "path": loc.path,
            },
            "fixes": [f.to_dict() for f in self.fixes],
        }


class CaegenError(Exception):
    """A user mistake: carries diagnostics that the CLI renders and exits 1 on."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(f"{d.code}: {d.message}" for d in diagnostics))


def error(
    code: str, message: str, hint: str | None = None, location: Location | None = None
) -> CaegenError:
    """A `CaegenError` of one diagnostic (errors outside a spec file have no location)."""
    return CaegenError([Diagnostic(code, message, location or Location(), hint)])


def _where(exc: BaseException) -> str:
    """The innermost frame of a traceback, as `file:line in function` (from `caegen/` on)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "an unknown place"
    frame = frames[-1]
    parts = Path(frame.filename).parts
    shown = "/".join(parts[parts.index("caegen") :]) if "caegen" in parts else parts[-1]
    return f"{shown}:{frame.lineno} in {frame.name}"


def internal_error(exc: BaseException, location: Location | None = None) -> Diagnostic:
    """E079 for an exception caegen did not anticipate: a bug, named so it can be reported."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return Diagnostic(
        "E079",
        f"internal error: {type(exc).__name__}{': ' + first if first else ''} (at {_where(exc)})",
        location or Location(),
        "this is a bug in caegen: please report it with the command and its input files "
        "(CAEGEN_TRACEBACK=1 prints the traceback)",
    )


def codes_markdown() -> str:
    """The table of diagnostic codes, as committed in docs/diagnostics.md."""
    lines = [
        "# Diagnostic codes",
        "",
        "Generated from `caegen.core.diagnostics.CODES` (a test fails when this file is stale).",
        "Codes are stable. *Keras silent* marks findings Keras would build without complaint.",
        "",
        "| code | name | severity | Keras silent | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for info in sorted(CODES.values(), key=lambda i: int(i.code[1:])):
        silent = "yes" if info.keras_accepts_silently else ""
        lines.append(
            f"| {info.code} | {info.name} | {info.severity.value} | {silent} | {info.summary} |"
        )
    return "\n".join(lines) + "\n"
