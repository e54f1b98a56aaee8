"""E093 one-class-labels: `data.normal` lists every label the test split can hold.

The one-class protocol labels each test image normal (its label is in `data.normal`) or
anomalous (any other label). When `data.normal` lists every label that `data.classes` keeps,
or every label of the source, no test image can be anomalous: image AUROC, AUPRC and AUPRO
rank anomalies against normal images and are undefined, so `caegen score` would have none
to give and `caegen sweep --objective auroc` nothing to maximize. Checked from the labels
alone, before anything trains; what only the data shows (a test split cut short by
`data.eval_limit`, an MVTec folder without defects) is said by the commands that read it
(W112 for train and score, E094 for a sweep).
"""

from __future__ import annotations

from caegen.compile.graph import locate
from caegen.core.diagnostics import Diagnostic
from caegen.spec.schema import LABEL_COUNT, Spec

CODE = "E093"


def check_one_class_labels(spec: Spec) -> list[Diagnostic]:
    data = spec.data
    count = LABEL_COUNT.get(data.source)
    if data.normal is None or count is None:  # labels on another source: the schema's E012
        return []
    held = set(data.classes) if data.classes is not None else set(range(count))
    if not held <= set(data.normal):
        return []
    if data.classes is not None:
        what = f"every label data.classes keeps ({_listed(sorted(held))})"
        hint = "leave at least one label of data.classes out of data.normal: its images are"
    else:
        what = f"every label of `{data.source}` (0..{count - 1})"
        hint = "list in data.normal only the normal labels: the images of the others are"
    return [
        Diagnostic(
            CODE,
            f"data.normal lists {what}: no test image can be anomalous, so image AUROC, "
            "AUPRC and AUPRO are undefined",
            locate(spec.source, ("data", "normal")),
            f"{hint} the anomalies; or drop data.normal (reconstruction only, no anomaly labels)",
        )
    ]


def _listed(labels: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in labels) + "]"
