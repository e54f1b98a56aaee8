"""Anomaly-detection objectives for `caegen sweep --objective auroc|aupro` and the
anomaly columns of `caegen compare`.

A trial's run is scored like `caegen score RUN` (the mse score, the threshold from its
held-out normal images) once it has trained; the image AUROC needs anomaly labels in the
test split, the AUPRO pixel masks, which the spec's data must have (E097 otherwise), and
both need normal and anomalous test images: a test split of one kind is refused before
anything trains (E094), not trained into an empty objective.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from caegen.core.diagnostics import CaegenError, error
from caegen.spec.schema import Spec

METRIC = {"auroc": "image_auroc", "aupro": "aupro"}
"""Objective name -> the metric of `caegen score` it reads."""


def anomaly_truth(spec: Spec) -> tuple[bool, bool]:
    """(whether the spec's test split has anomaly labels, whether it has pixel masks)."""
    from caegen.training.mvtec import is_mvtec

    if spec.data.source == "textures":
        return True, True
    if spec.data.normal is not None:
        return True, False
    if spec.data.source == "folder" and spec.data.path and is_mvtec(Path(spec.data.path)):
        return True, (Path(spec.data.path) / "ground_truth").is_dir()
    return False, False


def check_objective(spec: Spec, objective: str) -> None:
    """E097 when the spec's data cannot give what the objective measures."""
    labels, masks = anomaly_truth(spec)
    if objective == "auroc" and not labels:
        raise error(
            "E097",
            f"--objective auroc needs normal and anomalous test images; data source "
            f"`{spec.data.source}` of {spec.name} has no anomaly labels",
            "set data.normal: [labels] (one-class), or use source textures or an MVTec AD folder",
        )
    if objective == "aupro" and not masks:
        raise error(
            "E097",
            f"--objective aupro needs pixel masks of the anomalies; the data of {spec.name} "
            "has none",
            "use source textures, or an MVTec AD folder with ground_truth/; or --objective auroc",
        )


def check_test_kinds(spec: Spec, objective: str) -> None:
    """E094 when the spec's test split holds only normal or only anomalous images (read from
    the data itself: its labels and folders, nothing fitted or trained); E093 first when the
    spec's labels alone say so."""
    from caegen.compile.passes.one_class import check_one_class_labels
    from caegen.training.data import unfitted_splits
    from caegen.training.truth import one_kind_test

    static = check_one_class_labels(spec)  # E093: the labels alone show it
    if static:
        raise CaegenError(static)
    found = one_kind_test(unfitted_splits(spec), spec, "E094")
    if found is not None:
        message = f"--objective {objective} on {spec.name}: {found.message}"
        raise CaegenError([replace(found, message=message)])


def objective_metrics(run_dir: Path, objective: str) -> dict[str, Any]:
    """Score a finished run (without figures) and return {objective: value}."""
    from caegen.score.runner import ScoreOptions, score
    from caegen.training.rundir import Run

    check_objective(Run(run_dir).spec, objective)
    result = score(run_dir, options=ScoreOptions(figures=False), force=True)
    return {name: result.metrics.get(metric) for name, metric in METRIC.items()}


def anomaly_columns(run: Any) -> dict[str, Any]:
    """The AUROC and AUPRO `caegen score` recorded for a run's own test split (or none)."""
    from caegen.core.diagnostics import CaegenError

    if not (run.path / "scorer.json").exists():
        return {}
    try:
        metrics = run.scorer().get("metrics") or {}
    except CaegenError:
        return {}
    return {name: metrics[metric] for name, metric in METRIC.items() if metric in metrics}
