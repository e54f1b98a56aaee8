"""`caegen export --onnx`: ONNX files that are verified against Keras before they land.

The model is converted with tf2onnx from a `tf.function` with an explicit signature and a
dynamic batch dimension (`batch`), rewritten where OpenCV 4.x would refuse tf2onnx's graph
(`onnx_compat`), checked with onnx.checker, run in onnxruntime next to Keras on real inputs,
and moved into place only when the two agree within the tolerance. Its metadata records
the preprocessing of the images (`caegen.training.preprocessing`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import error
from caegen.core.fsutil import atomic_write_bytes, unwritable
from caegen.export.verified import (
    ExportResult,
    comparison_inputs,
    median_ms,
    refuse_run_files,
    writable_target,
)
from caegen.spec.schema import Spec

PARTS = ("autoencoder", "encoder", "decoder", "scorer")
OUTPUT_NAME = {"autoencoder": "reconstruction", "encoder": "latent", "decoder": "reconstruction"}
DEFAULT_OPSET = 15
MAX_OPSET = 18  # tf2onnx 1.17 refuses 19 and above


def _load_source(source: Path, part: str) -> tuple[Spec, dict[str, Any], Path | None]:
    """The spec and its Keras models, from a run directory (trained) or a spec file."""
    from caegen.emit.keras_model import build
    from caegen.spec.loader import load
    from caegen.training.rundir import Run

    if source.is_file():
        spec = load(source)
        built = build(spec)
        return (
            spec,
            {"autoencoder": built.autoencoder, "encoder": built.encoder, "decoder": built.decoder},
            None,
        )
    run = Run.find(source, purpose="export")
    status = run.status()
    if status.state != "finished":
        raise error(
            "E052",
            f"{run.path} is not finished ({status.describe()})",
            run.next_step(status),
        )
    spec = run.spec
    # the decoder's inputs come from the encoder; the autoencoder is needed for nothing else
    needed = {"autoencoder": ["autoencoder"], "encoder": ["encoder"], "decoder": ["encoder"]}
    parts = [*needed[part], part]
    models: dict[str, Any] = dict.fromkeys(("autoencoder", "encoder", "decoder"))
    for name in dict.fromkeys(parts):
        if name == "decoder" and not run.has_model("decoder") and not _separable(spec):
            continue  # export_models explains that there is no standalone decoder
        models[name] = run.load_model(name)
    return spec, models, run.path


def _separable(spec: Spec) -> bool:
    from caegen.compile.compiler import check

    report = check(spec)
    return not any(d.code == "I108" for d in report.diagnostics)


def _convert(model: Any, part: str, opset: int) -> Any:
    """tf2onnx's graph of the model, rewritten to run in OpenCV 4.x as well (onnx_compat)."""
    import tensorflow as tf
    import tf2onnx

    from caegen.export.onnx_compat import name_batch_axis, symmetric_conv_transpose, traceable

    shape = (None, *model.inputs[0].shape[1:])
    out_name = OUTPUT_NAME[part]
    traced = traceable(model)
    fn = tf.function(
        lambda x: {out_name: traced(x, training=False)},
        input_signature=(tf.TensorSpec(shape, tf.float32, name="input"),),
    )
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset)
    symmetric_conv_transpose(proto)
    name_batch_axis(proto)
    return proto


def export_onnx(
    source: str | Path,
    path: str | Path | None = None,
    *,
    part: str = "autoencoder",
    opset: int = DEFAULT_OPSET,
    tolerance: float = 1e-4,
    force: bool = False,
    batch_size: int = 64,
) -> ExportResult:
    """Export one part of a trained run (or an untrained spec) to a verified ONNX file."""
    if part not in PARTS:
        raise error("E056", f"unknown part `{part}`", f"choose one of {', '.join(PARTS)}")
    if not 13 <= opset <= MAX_OPSET:
        raise error("E056", f"opset {opset} is not supported", f"use 13..{MAX_OPSET}")
    source = Path(source)
    if not source.exists():
        raise error(
            "E052",
            f"no such run directory or spec: {source}",
            "pass runs/<name>[/<timestamp>] or a spec file",
        )
    if part == "scorer":  # reconstruction, anomaly map and score: caegen.export.scorer_onnx
        from caegen.export.scorer_onnx import export_scorer

        return export_scorer(
            source, path, opset=opset, tolerance=tolerance, force=force, batch_size=batch_size
        )
    spec, models, run_dir = _load_source(source, part)
    target = (
        Path(path)
        if path
        else (run_dir / f"{part}.onnx" if run_dir else Path(f"{spec.name}-{part}.onnx"))
    )
    if run_dir is not None:
        refuse_run_files(target, run_dir)
    return export_models(
        spec,
        models,
        target,
        part=part,
        trained=run_dir is not None,
        opset=opset,
        tolerance=tolerance,
        force=force,
        batch_size=batch_size,
    )


def export_models(
    spec: Spec,
    models: dict[str, Any],
    target: Path,
    *,
    part: str = "autoencoder",
    trained: bool = True,
    opset: int = DEFAULT_OPSET,
    tolerance: float = 1e-4,
    force: bool = False,
    batch_size: int = 64,
) -> ExportResult:
    """Export `models[part]` (Keras models of `spec`) to a verified ONNX file at `target`."""
    import onnx

    model = models.get(part)
    if model is None:
        raise error(
            "E056",
            f"{spec.name} has no standalone decoder (skip connections)",
            "export the autoencoder or the encoder instead",
        )
    writable_target(target, spec, part, force)
    warnings = [] if trained else ["exporting untrained weights (from a spec, not a run)"]
    proto = _convert(model, part, opset)
    inputs, what, data_warnings, scale = comparison_inputs(spec, models, part)
    warnings += data_warnings
    metadata = _metadata(spec, model, part, scale, trained)
    onnx.helper.set_model_props(proto, metadata)
    diff, keras_ms, onnx_ms = _verify_and_place(
        proto, model, inputs, what, target, tolerance, batch_size
    )
    return ExportResult(
        target,
        part,
        trained,
        diff,
        tolerance,
        what,
        len(inputs),
        batch_size,
        keras_ms,
        onnx_ms,
        metadata,
        warnings,
    )


def _metadata(
    spec: Spec, model: Any, part: str, scale: float | None, trained: bool
) -> dict[str, str]:
    """The file's metadata_props: what it is, and how to prepare its input."""
    from caegen.core.version import __version__
    from caegen.training.preprocessing import describe

    metadata = {
        "caegen_version": __version__,
        "spec_name": spec.name,
        "spec_hash": spec.spec_hash(),
        "part": part,
        "input_name": "input",
        "output_name": OUTPUT_NAME[part],
        "input_shape": json.dumps([None, *model.inputs[0].shape[1:]]),
        "input_range": spec.data.range,
        "preprocessing": json.dumps(describe(spec, part, scale)),
        "trained": json.dumps(trained),
    }
    if spec.data.noise is not None:
        metadata["noise_stddev"] = str(spec.data.noise.stddev)
    return metadata


def _verify_and_place(
    proto: Any,
    model: Any,
    inputs: np.ndarray,
    what: str,
    target: Path,
    tolerance: float,
    batch_size: int,
) -> tuple[float, float, float]:
    """Check the file and compare it with Keras next to the target, then move it into place:
    no unverified file ever lands. (max abs difference, Keras and ONNX ms per batch)"""
    import onnx
    import onnxruntime as ort

    staging = target.with_name(f".{target.name}.verify")
    try:
        atomic_write_bytes(staging, proto.SerializeToString())
    except OSError as exc:
        raise unwritable(f"write {target}", exc, "pass another PATH") from None
    try:
        onnx.checker.check_model(str(staging))
        session = ort.InferenceSession(str(staging), providers=["CPUExecutionProvider"])
        keras_out = model.predict(inputs, batch_size=batch_size, verbose=0)
        onnx_out = session.run(None, {"input": inputs})[0]
        diff = float(np.max(np.abs(keras_out.astype(np.float64) - onnx_out)))
        batches = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)][:4]
        keras_ms = median_ms(lambda b: model(b, training=False), batches)
        onnx_ms = median_ms(lambda b: session.run(None, {"input": b}), batches)
        if not diff <= tolerance:
            raise error(
                "E054",
                f"ONNX Runtime and Keras differ by up to {diff:.3g} on {what} (tolerance "
                f"{tolerance:g}); {target} was not written",
                "report the spec: a layer converts differently; --tolerance raises the bound",
            )
        try:
            os.replace(staging, target)
        except OSError as exc:
            raise unwritable(f"write {target}", exc, "pass another PATH") from None
    finally:
        staging.unlink(missing_ok=True)
    return diff, keras_ms, onnx_ms
