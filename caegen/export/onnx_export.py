"""`caegen export --onnx`: ONNX files that are verified against Keras before they land.

The model is converted with tf2onnx from a `tf.function` with an explicit signature and a
dynamic batch dimension, checked with onnx.checker, run in onnxruntime next to Keras on
real inputs, and moved into place only when the two agree within the tolerance.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import CaegenError, error
from caegen.core.fsutil import atomic_write_bytes, ensure_parent, unwritable
from caegen.spec.schema import Spec

PARTS = ("autoencoder", "encoder", "decoder", "scorer")
OUTPUT_NAME = {"autoencoder": "reconstruction", "encoder": "latent", "decoder": "reconstruction"}
DEFAULT_OPSET = 15
MAX_OPSET = 18  # tf2onnx 1.17 refuses 19 and above


@dataclass
class ExportResult:
    path: Path
    part: str
    trained: bool
    max_abs_diff: float
    tolerance: float
    inputs: str
    """What the comparison ran on."""
    samples: int
    batch_size: int
    keras_ms_per_batch: float
    onnx_ms_per_batch: float
    metadata: dict[str, str]
    warnings: list[str]


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


def _comparison_inputs(
    spec: Spec, models: dict[str, Any], part: str, limit: int = 256
) -> tuple[np.ndarray, str, list[str]]:
    """Real inputs for the part: the spec's test images (noisy for a denoiser)."""
    import tensorflow as tf

    from caegen.training.data import load_data
    from caegen.training.pipeline import evaluation_arrays, spread, undecodable

    warnings: list[str] = []
    try:
        splits = load_data(spec)
    except CaegenError as exc:  # e.g. the dataset is not on this machine
        rng = np.random.default_rng(0)
        low = -1.0 if spec.data.range == "symmetric" else 0.0
        images = rng.uniform(low, 1.0, (64, *spec.input)).astype(np.float32)
        what = "64 seeded random images"
        warnings.append(f"data unavailable ({exc.diagnostics[0].message}); compared on {what}")
    else:
        indices = spread(len(splits.test), limit)
        try:
            images, _ = evaluation_arrays(
                splits.test, spec, seed=spec.train.seed + 1, indices=indices
            )
        except tf.errors.OpError as exc:  # a damaged image file: name it, do not guess
            raise undecodable(exc, spec, splits.test.files) from None
        what = f"{len(images)} test images ({splits.description})"
    if part == "decoder":
        images = models["encoder"].predict(images, batch_size=64, verbose=0)
        what = f"latent codes of {what}"
    return images.astype(np.float32), what, warnings


def _convert(model: Any, part: str, opset: int) -> Any:
    import tensorflow as tf
    import tf2onnx

    shape = (None, *model.inputs[0].shape[1:])
    out_name = OUTPUT_NAME[part]
    fn = tf.function(
        lambda x: {out_name: model(x, training=False)},
        input_signature=(tf.TensorSpec(shape, tf.float32, name="input"),),
    )
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset)
    return proto


def _median_ms(run: Any, batches: list[np.ndarray], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        for batch in batches:
            start = time.perf_counter()
            run(batch)
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


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
    model = models.get(part)
    if model is None:
        raise error(
            "E056",
            f"{spec.name} has no standalone decoder (skip connections)",
            "export the autoencoder or the encoder instead",
        )
    try:
        target_is_dir, target_exists = target.is_dir(), target.exists()
    except OSError as exc:  # e.g. a file name longer than the file system allows
        raise unwritable(f"write {target}", exc, "pass another PATH") from None
    if target_is_dir:
        raise error(
            "E057",
            f"cannot write {target}: it is a directory",
            f"pass a file path, e.g. {target / (spec.name + '-' + part + '.onnx')}",
        )
    if target_exists and not force:
        raise error(
            "E050", f"{target} already exists; not overwriting it", "pass --force, or another path"
        )

    try:
        ensure_parent(target)
    except OSError as exc:
        raise unwritable(f"write {target}", exc, "pass another PATH") from None

    warnings = [] if trained else ["exporting untrained weights (from a spec, not a run)"]
    import onnx
    import onnxruntime as ort

    from caegen.core.version import __version__

    proto = _convert(model, part, opset)
    metadata = {
        "caegen_version": __version__,
        "spec_name": spec.name,
        "spec_hash": spec.spec_hash(),
        "part": part,
        "input_name": "input",
        "output_name": OUTPUT_NAME[part],
        "input_shape": json.dumps([None, *model.inputs[0].shape[1:]]),
        "input_range": spec.data.range,
        "trained": json.dumps(trained),
    }
    if spec.data.noise is not None:
        metadata["noise_stddev"] = str(spec.data.noise.stddev)
    onnx.helper.set_model_props(proto, metadata)

    # verify next to the target, then move it into place: no unverified file ever lands
    staging = target.with_name(f".{target.name}.verify")
    try:
        atomic_write_bytes(staging, proto.SerializeToString())
    except OSError as exc:
        raise unwritable(f"write {target}", exc, "pass another PATH") from None
    try:
        onnx.checker.check_model(str(staging))
        session = ort.InferenceSession(str(staging), providers=["CPUExecutionProvider"])
        inputs, what, data_warnings = _comparison_inputs(spec, models, part)
        warnings += data_warnings
        keras_out = model.predict(inputs, batch_size=batch_size, verbose=0)
        onnx_out = session.run(None, {"input": inputs})[0]
        diff = float(np.max(np.abs(keras_out.astype(np.float64) - onnx_out)))
        batches = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)][:4]
        keras_ms = _median_ms(lambda b: model(b, training=False), batches)
        onnx_ms = _median_ms(lambda b: session.run(None, {"input": b}), batches)
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
