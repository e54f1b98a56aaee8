"""`caegen score`: score a finished run's test split (or given images) for anomalies.

The threshold is chosen first, on normal images only: the run's held-out calibration
images (one-class data, textures, MVTec folders), or its test split when its data has no
anomaly labels (then every image of it is taken as normal). The images scored afterwards
never move it. With labels the result has image AUROC, AUPRC and F1-max, overall and per
kind; with masks, pixel AUROC and AUPRO; labelled images of one kind only leave them
undefined, which the result says (W112). The threshold and the scorer are recorded in the
run (`scorer.json`, through `Run`); scores, maps and figures go to the output folder.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caegen.core.diagnostics import CaegenError, Diagnostic, Location, error
from caegen.core.fsutil import atomic_write_bytes, atomic_write_text, ensure_parent, unwritable
from caegen.score import metrics as m
from caegen.score.inputs import Inputs, collect
from caegen.score.maps import ScoreKind, scorer_function
from caegen.spec.schema import Spec
from caegen.training.images import DataSplits, Images
from caegen.training.rundir import FINISHED, Run
from caegen.training.truth import UNDEFINED, lacking_kind, one_kind_test

DEFAULT_QUANTILE = 0.99
FILES = ("scores.csv", "score.json", "anomaly_maps.npy")


@dataclass
class ScoreOptions:
    kind: str = "mse"
    smooth: float | None = None
    quantile: float = DEFAULT_QUANTILE
    fit: bool = False
    """Fit given images to the input as the spec's data is (else their shape must match)."""
    masks: Path | None = None
    batch_size: int = 256
    figures: bool = True


@dataclass
class Scored:
    """One pass of the scorer over a set of images."""

    scores: np.ndarray
    maps: np.ndarray


@dataclass
class ScoreResult:
    run_dir: Path
    out: Path
    kind: ScoreKind
    images: str
    calibration: str
    threshold: m.Threshold
    pixel_threshold: m.Threshold
    center: float
    """The median score of the calibration images (for normalized scores)."""
    scores: np.ndarray
    flagged: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    per_kind: list[dict[str, Any]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[Diagnostic] = field(default_factory=list)
    replaced: dict[str, Any] | None = None
    """The scorer the run had recorded before, when this scoring replaced another kind or
    threshold (`caegen export --part scorer` exports the one recorded last)."""
    """W112 when the labelled images scored are of one kind (the metrics are undefined)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": str(self.run_dir),
            "out": str(self.out),
            "score": self.kind.kind,
            "smooth_sigma": self.kind.smooth,
            "images": self.images,
            "scored_images": len(self.scores),
            "calibration": self.calibration,
            "threshold": self.threshold.to_dict(),
            "pixel_threshold": self.pixel_threshold.to_dict(),
            "normalization": self.normalization(),
            "flagged": int(self.flagged.sum()),
            "metrics": self.metrics,
            "per_kind": self.per_kind,
            "warnings": [d.to_dict() for d in self.warnings],
            "replaced_scorer": self.replaced,
            "written": [str(p) for p in self.written],
            "seconds": round(self.seconds, 3),
        }

    def normalization(self) -> dict[str, float]:
        """normalized = (score - center) / scale: 0 for a typical normal image (the
        calibration images' median), 1 at the threshold."""
        return {"center": self.center, "scale": self.threshold.value - self.center}


class Scorer:
    """The run's autoencoder and the anomaly maps, batch by batch over `Images`."""

    def __init__(self, model: Any, spec: Spec, kind: ScoreKind, batch_size: int) -> None:
        # scored on clean inputs: a denoiser's training noise is not part of scoring
        self.spec = spec.model_copy(update={"data": spec.data.model_copy(update={"noise": None})})
        self.kind = kind
        self.batch_size = batch_size
        self.function = scorer_function(model, tuple(spec.input), kind)

    def run(self, images: Images) -> Scored:
        import tensorflow as tf

        from caegen.training.pipeline import evaluation_dataset, undecodable

        scores, maps = [], []
        try:
            for x, _ in evaluation_dataset(images, self.spec, self.batch_size, seed=0):
                out = self.function(x)
                scores.append(out["score"].numpy())
                maps.append(out["anomaly_map"].numpy())
        except tf.errors.InvalidArgumentError as exc:
            if images.files is None:
                raise
            raise undecodable(exc, self.spec, images.files) from None
        return Scored(np.concatenate(scores), np.concatenate(maps))

    def reconstruct(self, images: Images, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, reconstructions) of a few images, for figures."""
        from caegen.training.pipeline import evaluation_arrays

        x, _ = evaluation_arrays(images, self.spec, seed=0, indices=indices)
        return x, self.function(x)["reconstruction"].numpy()


def finished_run(source: Path) -> Run:
    run = Run.find(Path(source), purpose="export")
    status = run.status()
    if status.state != FINISHED:
        raise error(
            "E052", f"{run.path} is not finished ({status.describe()})", run.next_step(status)
        )
    return run


def calibration_images(data: DataSplits) -> tuple[Images, str]:
    if data.calibration is not None and len(data.calibration):
        return data.calibration, "held-out normal training images"
    if data.test.truth is not None:  # labelled test images: never take anomalies as normal
        raise error(
            "E097",
            "the data has anomaly labels but no held-out normal images to set the threshold",
            "set data.calibration (a fraction of the normal training images)",
        )
    return data.test, "test images (the data has no anomaly labels: all taken as normal)"


def _refuse_run_files(out: Path, run: Run) -> None:
    """E080 when `out` is the run directory or a folder of its own (checkpoints, ...): scores
    go outside the run, or into one of its `score-*` folders."""
    target, root = out.resolve(), run.path.resolve()
    inside = target == root or root in target.parents
    if inside and (target == root or not target.relative_to(root).parts[0].startswith("score-")):
        raise error(
            "E080",
            f"--out {out} would write among the run's own files ({root})",
            "leave --out out (scores go to RUN/score-KIND), or pass a folder outside the run",
        )


def prepare_out(out: Path, force: bool) -> None:
    existing = [out / name for name in FILES if (out / name).exists()]
    if existing and not force:
        raise error(
            "E050",
            f"{out} already holds scores ({existing[0].name}); not replacing them",
            "pass --force, or --out DIR",
        )
    try:
        ensure_parent(out / FILES[0])
    except OSError as exc:
        raise unwritable(f"create {out}", exc, "pass another --out") from None


def score(
    source: Path,
    images: list[Path] | None = None,
    *,
    options: ScoreOptions | None = None,
    out: Path | None = None,
    force: bool = False,
) -> ScoreResult:
    """Score a finished run's test split, or `images`, against a threshold chosen on the
    run's normal images; write scores, maps and figures to `out` (default RUN/score-KIND)."""
    from caegen.training.data import load_data

    started = time.perf_counter()
    options = options or ScoreOptions()
    run = finished_run(source)
    spec = run.spec
    kind = ScoreKind.make(options.kind, options.smooth, spec.data.range)
    kind.check_size(spec.input[0], spec.input[1])
    given = _given(images, spec, options)  # checked before anything is loaded or written
    out = Path(out) if out is not None else run.path / f"score-{kind.kind}"
    _refuse_run_files(out, run)
    prepare_out(out, force)
    scorer = Scorer(run.load_model("autoencoder"), spec, kind, options.batch_size)
    data = load_data(spec)
    calibration, calibration_what = calibration_images(data)
    normal = scorer.run(calibration)  # the threshold reads these images and nothing else
    threshold = m.threshold_from_normal(normal.scores, options.quantile)
    # the same quantile of every pixel of those images: the share of normal pixels flagged
    pixel_threshold = m.threshold_from_normal(normal.maps, options.quantile)
    # load_data keeps the first data.eval_limit test images when the run recorded one
    inputs = given or Inputs(data.test, f"{len(data.test):,} test images ({data.description})")
    scored = scorer.run(inputs.images)
    result = ScoreResult(
        run.path,
        out,
        kind,
        inputs.description,
        f"{len(calibration):,} {calibration_what}",
        threshold,
        pixel_threshold,
        float(np.median(normal.scores)),
        scored.scores,
        scored.scores > threshold.value,
    )
    truth = inputs.images.truth
    masks = None
    one_kind = _one_kind(inputs, data, spec, given is not None)
    if one_kind is not None:
        result.warnings.append(one_kind)
    elif truth is not None and len(truth):
        masks = _masks(inputs.images, spec)
        result.metrics = _evaluate(truth.anomalous, scored, masks)
        result.per_kind = _per_kind(truth.kinds, truth.anomalous, scored.scores, result.flagged)
    result.written = _write(result, inputs, scored, scorer, options.figures, masks)
    result.seconds = time.perf_counter() - started
    _record(run, result, own_data=not images)
    return result


def _one_kind(inputs: Inputs, data: DataSplits, spec: Spec, given: bool) -> Diagnostic | None:
    """W112 when the images scored carry anomaly labels of one kind only."""
    if not given:
        return one_kind_test(data, spec, "W112")
    lacking = lacking_kind(inputs.images.truth)
    if lacking is None:
        return None
    other = "normal" if lacking == "anomalous" else "anomalous"
    return Diagnostic(
        "W112",
        f"the images scored hold no {lacking} image (all {len(inputs.images):,} are {other}): "
        f"{UNDEFINED}",
        Location(),
        "score normal and anomalous images together (a folder with good/ and <defect>/ "
        "subfolders); the scores and flags are written all the same",
    )


def _given(images: list[Path] | None, spec: Spec, options: ScoreOptions) -> Inputs | None:
    """The images given to score, checked against the model (None: the run's test split)."""
    if images:
        return collect(list(images), spec, fit=options.fit, masks=options.masks)
    if options.masks is not None:
        raise error(
            "E096",
            f"--masks {options.masks} goes with images to score; the run's own test split "
            "brings its masks",
            "pass a folder of images labelled by subfolder (good/, <defect>/) with --masks",
        )
    return None


def _masks(images: Images, spec: Spec) -> np.ndarray | None:
    truth = images.truth
    if truth is None or not truth.has_masks:
        return None
    if truth.masks is not None:
        return truth.masks
    from caegen.training.mvtec import read_masks

    return read_masks(images.files or [], truth.mask_files or [], spec.input[:2], spec.data.fit)


def _evaluate(anomalous: np.ndarray, scored: Scored, masks: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "anomalous_images": int(anomalous.sum()),
        "normal_images": int((~anomalous).sum()),
        **m.image_metrics(anomalous, scored.scores),
    }
    if masks is not None and masks.any():
        out["pixel_auroc"] = m.pixel_auroc(masks, scored.maps)
        out["aupro"] = m.aupro(masks, scored.maps)
        out["aupro_fpr_limit"] = m.FPR_LIMIT
    return out


def _per_kind(
    kinds: list[str], anomalous: np.ndarray, scores: np.ndarray, flagged: np.ndarray
) -> list[dict[str, Any]]:
    """Per class or defect type: its images, how many were flagged, and its AUROC against
    the normal images."""
    names = np.array(kinds)
    normal = ~anomalous
    rows = []
    for name in sorted(set(kinds), key=lambda k: (bool(anomalous[names == k].any()), k)):
        these = names == name
        row: dict[str, Any] = {
            "kind": name,
            "anomalous": bool(anomalous[these].any()),
            "images": int(these.sum()),
            "flagged": int(flagged[these].sum()),
            "auroc": None,
        }
        if row["anomalous"]:
            pick = these | normal
            row["auroc"] = m.image_auroc(anomalous[pick], scores[pick])
        rows.append(row)
    return rows


def _write(
    result: ScoreResult,
    inputs: Inputs,
    scored: Scored,
    scorer: Scorer,
    figures: bool,
    masks: np.ndarray | None,
) -> list[Path]:
    """scores.csv, anomaly_maps.npy, the figures and score.json."""
    out = result.out
    written = [out / "scores.csv", out / "anomaly_maps.npy", out / "score.json"]
    try:
        atomic_write_text(written[0], _csv(result, inputs.images))
        buffer = io.BytesIO()
        np.save(buffer, scored.maps.astype(np.float32))
        atomic_write_bytes(written[1], buffer.getvalue())
        if figures and result.scores.size:
            from caegen.score.figures import write_figures

            written[2:2] = write_figures(result, inputs.images, scored, scorer, masks)
        result.written = written
        atomic_write_text(written[-1], json.dumps(result.to_dict(), indent=2) + "\n")
    except OSError as exc:
        raise unwritable(f"write the scores to {out}", exc, "pass another --out") from None
    return written


def _csv(result: ScoreResult, images: Images) -> str:
    truth = images.truth
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "image", "kind", "anomalous", "score", "flagged"])
    for i, value in enumerate(result.scores):
        name = images.files[i] if images.files is not None else str(i)
        writer.writerow(
            [
                i,
                name,
                truth.kinds[i] if truth is not None else "",
                int(truth.anomalous[i]) if truth is not None else "",
                f"{float(value):.8g}",
                int(result.flagged[i]),
            ]
        )
    return buffer.getvalue()


def _record(run: Run, result: ScoreResult, own_data: bool) -> None:
    """The scorer and its threshold in the run, and the metrics in TensorBoard. Scoring
    other images never replaces what the run's own test split recorded."""
    if not own_data and (run.path / "scorer.json").exists():
        return
    before = _recorded(run)
    record = {
        "score": result.kind.kind,
        "smooth_sigma": result.kind.smooth,
        "data_range": result.kind.data_range,
        "calibration": result.calibration,
        "threshold": result.threshold.to_dict(),
        "pixel_threshold": result.pixel_threshold.to_dict(),
        "normalization": result.normalization(),
        "metrics": result.metrics if own_data else {},
    }
    run.write_scorer(record)
    if before is not None and _scorer_of(before) != _scorer_of(record):
        result.replaced = {"score": before.get("score"), "threshold": before.get("threshold")}
    if own_data and result.metrics:
        _tensorboard(run, result)


def _recorded(run: Run) -> dict[str, Any] | None:
    try:
        return run.scorer()
    except CaegenError:
        return None


def _scorer_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """What the exported scorer computes: its score, smoothing, range and threshold."""
    threshold = record.get("threshold") or {}
    return (
        record.get("score"),
        record.get("smooth_sigma"),
        record.get("data_range"),
        threshold.get("value"),
    )


def _tensorboard(run: Run, result: ScoreResult) -> None:
    import tensorflow as tf

    epoch = run.status().epoch
    writer = tf.summary.create_file_writer(str(run.path / "tensorboard"))
    with writer.as_default():
        for name in ("image_auroc", "image_auprc", "image_f1_max", "pixel_auroc", "aupro"):
            if name in result.metrics:
                tag = f"test/{result.kind.kind}_{name}"
                tf.summary.scalar(tag, float(result.metrics[name]), step=epoch)
    writer.flush()
    writer.close()
