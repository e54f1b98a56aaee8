"""Anomaly-detection metrics over scores and maps (scikit-learn curves, scikit-image
connected components), and the threshold chosen on normal images alone.

Anomalous is the positive class everywhere: a higher score means more anomalous.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FPR_LIMIT = 0.3
"""AUPRO integrates the per-region overlap up to this false-positive rate (MVTec AD)."""


@dataclass(frozen=True)
class Threshold:
    """A threshold chosen on normal data only: the `quantile` of its values (the scores of
    normal images, or the map values of their pixels)."""

    value: float
    quantile: float
    samples: int
    above: int
    """How many of those normal values lie above it."""

    @property
    def false_positive_rate(self) -> float:
        return self.above / self.samples if self.samples else 0.0

    def describe(self, what: str) -> str:
        """`what`: the images it was chosen on, e.g. "93 held-out normal images"."""
        text = (
            f"{self.value:.6g}, the {self.quantile:g} quantile of the scores of {what}: "
            f"{self.above} of them ({self.false_positive_rate:.1%}) score above it, the "
            "false-positive rate it implies"
        )
        if self.above == 0 and self.samples:
            text += f" (of {self.samples:,} scores, this quantile is the largest)"
        return text

    def to_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "false_positive_rate": self.false_positive_rate}


def threshold_from_normal(scores: np.ndarray, quantile: float) -> Threshold:
    """The `quantile` of normal values, taken as one of the values themselves."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    value = float(np.quantile(scores, quantile, method="higher"))
    return Threshold(value, quantile, len(scores), int((scores > value).sum()))


def image_auroc(anomalous: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(anomalous, scores))


def auprc(anomalous: np.ndarray, scores: np.ndarray) -> float:
    """The area under the precision-recall curve (average precision, no interpolation)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(anomalous, scores))


def f1_max(anomalous: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(the best F1 over all thresholds, that threshold: anomalous means score >= it)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(anomalous, scores)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    best = int(np.argmax(f1[:-1]))  # the last point (recall 0) has no threshold
    return float(f1[best]), float(thresholds[best])


def pixel_auroc(masks: np.ndarray, maps: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.ravel(masks).astype(bool), np.ravel(maps)))


def pro_curve(masks: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, PRO) at every distinct map value, as MVTec AD's evaluation computes them.

    FPR: the share of anomaly-free pixels (over all images) at or above the threshold.
    PRO: the mean, over every connected region of every mask (8-connected), of the share
    of the region's pixels at or above it.
    """
    from skimage.measure import label

    masks = np.asarray(masks, dtype=bool)
    fp_step = (~masks).astype(np.float64)
    pro_step = np.zeros(masks.shape, dtype=np.float64)
    regions = 0
    for i, mask in enumerate(masks):
        labelled, count = label(mask, connectivity=2, return_num=True)
        regions += count
        for k in range(1, count + 1):
            region = labelled == k
            pro_step[i][region] = 1.0 / region.sum()
    order = np.argsort(-np.ravel(maps), kind="stable")
    values = np.ravel(maps)[order]
    fpr = np.cumsum(fp_step.ravel()[order]) / max(fp_step.sum(), 1.0)
    pro = np.cumsum(pro_step.ravel()[order]) / max(regions, 1)
    last_of_ties = np.append(np.diff(values) != 0, True)
    return np.concatenate([[0.0], fpr[last_of_ties]]), np.concatenate([[0.0], pro[last_of_ties]])


def aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = FPR_LIMIT) -> float:
    """The area under the PRO curve from FPR 0 to `fpr_limit`, divided by `fpr_limit`
    (the curve is interpolated linearly at the limit)."""
    fpr, pro = pro_curve(masks, maps)
    inside = fpr <= fpr_limit
    x, y = fpr[inside], pro[inside]
    if x[-1] < fpr_limit and inside.sum() < len(fpr):
        nxt = int(np.argmax(~inside))  # the first point past the limit
        x0, x1, y0, y1 = fpr[nxt - 1], fpr[nxt], pro[nxt - 1], pro[nxt]
        y_limit = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
        x, y = np.append(x, fpr_limit), np.append(y, y_limit)
    return float(np.trapezoid(y, x) / fpr_limit)


def image_metrics(anomalous: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    f1, at = f1_max(anomalous, scores)
    return {
        "image_auroc": image_auroc(anomalous, scores),
        "image_auprc": auprc(anomalous, scores),
        "image_f1_max": f1,
        "f1_max_threshold": at,
    }
