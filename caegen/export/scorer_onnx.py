"""`caegen export RUN --onnx --part scorer`: the anomaly scorer as one ONNX file.

Its outputs are the reconstruction, the anomaly map and the image score, computed by the
same TensorFlow function `caegen score` runs (caegen.score.maps); the threshold, the
pixel threshold and the score normalization that `caegen score` recorded in the run are in
the file's metadata, so a deployment flags images as the run was calibrated. The file
lands only after onnxruntime and TensorFlow agree on the run's real test images.
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
from caegen.score.maps import ScoreKind, scorer_function
from caegen.training.rundir import FINISHED, Run

OUTPUTS = ("reconstruction", "anomaly_map", "score")


def _scored_run(source: Path) -> tuple[Run, dict[str, Any]]:
    if source.is_file():
        raise error(
            "E056",
            "the scorer needs a trained and scored run, not a spec",
            "train the spec, run `caegen score RUN`, then export RUN --part scorer",
        )
    run = Run.find(source, purpose="export")
    status = run.status()
    if status.state != FINISHED:
        raise error(
            "E052", f"{run.path} is not finished ({status.describe()})", run.next_step(status)
        )
    return run, run.scorer()


def metadata(run: Run, record: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    """What a deployment needs beside the graph: how to read `score` and `anomaly_map`."""
    threshold = record["threshold"]
    return {
        **base,
        "part": "scorer",
        "output_names": json.dumps(list(OUTPUTS)),
        "score": record["score"],
        "smooth_sigma": str(record["smooth_sigma"]),
        "threshold": repr(float(threshold["value"])),
        "threshold_quantile": str(threshold["quantile"]),
        "threshold_false_positive_rate": repr(float(threshold["false_positive_rate"])),
        "threshold_images": str(threshold["samples"]),
        "threshold_chosen_on": record["calibration"],
        "pixel_threshold": repr(float(record["pixel_threshold"]["value"])),
        "score_normalization": json.dumps(
            {**record["normalization"], "formula": "(score - center) / scale; > 1: anomalous"}
        ),
        "anomalous_when": "score > threshold",
    }


def export_scorer(
    source: Path,
    target: Path | None,
    *,
    opset: int,
    tolerance: float,
    force: bool,
    batch_size: int = 64,
) -> ExportResult:
    """The scorer of a finished, scored run as a verified ONNX file at `target`."""
    import onnx
    import tf2onnx

    from caegen.core.version import __version__

    run, record = _scored_run(Path(source))
    spec = run.spec
    target = Path(target) if target else run.path / "scorer.onnx"
    refuse_run_files(target, run.path)
    writable_target(target, spec, "scorer", force)
    kind = ScoreKind(record["score"], float(record["smooth_sigma"]), float(record["data_range"]))
    model = run.load_model("autoencoder")
    function = scorer_function(model, tuple(spec.input), kind)
    proto, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=opset
    )
    base = {
        "caegen_version": __version__,
        "spec_name": spec.name,
        "spec_hash": spec.spec_hash(),
        "input_name": "input",
        "input_shape": json.dumps([None, *spec.input]),
        "input_range": spec.data.range,
        "trained": "true",
    }
    info = metadata(run, record, base)
    onnx.helper.set_model_props(proto, info)
    staging = target.with_name(f".{target.name}.verify")
    try:
        atomic_write_bytes(staging, proto.SerializeToString())
    except OSError as exc:
        raise unwritable(f"write {target}", exc, "pass another PATH") from None
    try:
        result = _verify(staging, target, function, kind, model, spec, tolerance, batch_size)
        os.replace(staging, target)
    except OSError as exc:
        raise unwritable(f"write {target}", exc, "pass another PATH") from None
    finally:
        staging.unlink(missing_ok=True)
    result.metadata = info
    return result


def _verify(
    staging: Path,
    target: Path,
    function: Any,
    kind: ScoreKind,
    model: Any,
    spec: Any,
    tolerance: float,
    batch_size: int,
) -> ExportResult:
    """Check the staged file and compare it with TensorFlow on the run's test images
    (E054 beyond the tolerance)."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(staging))
    session = ort.InferenceSession(str(staging), providers=["CPUExecutionProvider"])
    inputs, what, warnings, _scale = comparison_inputs(spec, {"autoencoder": model}, "autoencoder")
    diff, maps_apart, scores_apart = _differences(function, kind, session, inputs, batch_size)
    if max(maps_apart, scores_apart) > max(diff, tolerance):
        warnings.append(
            f"end to end, the {kind.kind} maps of ONNX and TensorFlow differ by up to "
            f"{maps_apart:.3g} and the scores by up to {scores_apart:.3g}: their "
            "reconstructions differ by float round-off, which SSIM amplifies in near-flat "
            f"windows; from the same reconstruction they agree within {diff:.3g}"
        )
    if not diff <= tolerance:
        raise error(
            "E054",
            f"ONNX Runtime and TensorFlow's scorer differ by up to {diff:.3g} on {what} "
            f"(tolerance {tolerance:g}); {target} was not written",
            "report the spec: an op converts differently; --tolerance raises the bound",
        )
    batches = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)][:4]
    tf_ms = median_ms(lambda b: function(b), batches)
    onnx_ms = median_ms(lambda b: session.run(None, {"input": b}), batches)
    return ExportResult(
        target,
        "scorer",
        True,
        diff,
        tolerance,
        what,
        len(inputs),
        batch_size,
        tf_ms,
        onnx_ms,
        {},
        warnings,
    )


def _differences(
    function: Any, kind: ScoreKind, session: Any, inputs: np.ndarray, batch_size: int
) -> tuple[float, float, float]:
    """(the largest |onnx - tensorflow| of the reconstruction, and of the map and score
    computed from the same (ONNX) reconstruction; the largest map difference and score
    difference end to end). SSIM maps are ill-conditioned where a window is nearly flat: a round-off
    difference in the reconstruction can grow a thousandfold there, so the map is
    checked on equal reconstructions, and the end-to-end difference is reported."""
    import tensorflow as tf

    from caegen.score.maps import anomaly_maps

    names = [o.name for o in session.get_outputs()]
    maps_of = tf.function(lambda x, r: anomaly_maps(x, r, kind))
    conversion, maps_apart, scores_apart = 0.0, 0.0, 0.0
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        expected = {k: v.numpy() for k, v in function(batch).items()}
        got = dict(zip(names, session.run(None, {"input": batch})))
        same_maps, same_scores = (v.numpy() for v in maps_of(batch, got["reconstruction"]))
        conversion = max(
            conversion,
            _worst(got["reconstruction"], expected["reconstruction"]),
            _worst(got["anomaly_map"], same_maps),
            _worst(got["score"], same_scores),
        )
        maps_apart = max(maps_apart, _worst(got["anomaly_map"], expected["anomaly_map"]))
        scores_apart = max(scores_apart, _worst(got["score"], expected["score"]))
    return conversion, maps_apart, scores_apart


def _worst(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b)))
