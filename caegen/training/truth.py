"""What is known about each test image for anomaly detection, and the label protocols.

`data.classes` keeps only some labels in both splits; `data.normal` is the one-class
protocol: train on the normal labels, score every test image as normal or anomalous. Data
with anomaly labels (one-class, textures, MVTec folders) also holds out a part of its
normal training images (`data.calibration`): the threshold is chosen on them alone.
AUROC, AUPRC and AUPRO rank anomalous images against normal ones: labelled images of one
kind only leave them undefined (`lacking_kind`, `one_kind_test`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caegen.core.diagnostics import Diagnostic
from caegen.spec.schema import DEFAULT_CALIBRATION, Spec

if TYPE_CHECKING:
    from caegen.training.images import DataSplits, Images

GOOD = "good"
"""The kind of a normal image (MVTec AD's folder name)."""


@dataclass
class Truth:
    """Per image: anomalous or not, its kind (a label or a defect type), its pixel mask.

    Masks are in memory (`masks`, (N, H, W) bool) or files (`mask_files`, None for an
    image without defects), or absent when the data has none.
    """

    anomalous: np.ndarray
    kinds: list[str]
    masks: np.ndarray | None = None
    mask_files: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def has_masks(self) -> bool:
        return self.masks is not None or self.mask_files is not None

    def take(self, indices: np.ndarray | list[int]) -> Truth:
        index = np.asarray(indices, dtype=np.int64)
        return Truth(
            self.anomalous[index],
            [self.kinds[i] for i in index],
            None if self.masks is None else self.masks[index],
            None if self.mask_files is None else [self.mask_files[i] for i in index],
        )

    def head(self, n: int) -> Truth:
        return self.take(np.arange(min(n, len(self))))


def calibration_fraction(spec: Spec) -> float:
    return spec.data.calibration or DEFAULT_CALIBRATION


def hold_out(images: Images, fraction: float) -> tuple[Images, Images]:
    """(train, calibration): a fixed share of the images, chosen by a seeded permutation
    (the same every run), is held out; both keep their original order."""
    n = len(images)
    n_held = min(max(1, round(n * fraction)), n - 1)
    held = np.sort(np.random.default_rng(0).permutation(n)[:n_held])
    kept = np.setdiff1d(np.arange(n), held)
    return images.take(kept), images.take(held)


def apply_label_protocol(splits: DataSplits, spec: Spec) -> DataSplits:
    """`data.classes` and `data.normal` on a labelled source (the schema allows no other)."""
    from caegen.training.images import unavailable

    classes, normal = spec.data.classes, spec.data.normal
    if classes is None and normal is None:
        return splits
    if splits.train.labels is None or splits.test.labels is None:
        raise unavailable(
            f"data source `{spec.data.source}` gave no labels",
            "data.classes and data.normal need a labelled source",
        )
    if classes is not None:
        splits.train = splits.train.take(np.flatnonzero(np.isin(splits.train.labels, classes)))
        splits.test = splits.test.take(np.flatnonzero(np.isin(splits.test.labels, classes)))
        splits.description += f"; labels {_listed(classes)} only"
    if normal is not None:
        splits.train = splits.train.take(np.flatnonzero(np.isin(splits.train.labels, normal)))
        labels = splits.test.labels
        splits.test.truth = Truth(~np.isin(labels, normal), [str(int(v)) for v in labels])
        splits.train, splits.calibration = hold_out(splits.train, calibration_fraction(spec))
        splits.description += (
            f"; one-class: normal {_listed(normal)}, {len(splits.calibration):,} normal "
            "training images held out for the threshold"
        )
    for name, images in (("train", splits.train), ("test", splits.test)):
        if len(images) == 0:
            raise unavailable(
                f"no {name} image of `{spec.data.source}` has a label in "
                f"{_listed(normal if name == 'train' and normal else classes or [])}",
                "choose labels the split holds",
            )
    return splits


def _listed(labels: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in labels) + "]"


UNDEFINED = "image AUROC, AUPRC and F1-max (and pixel AUROC and AUPRO) are undefined"
"""What labelled images of one kind only leave without a value."""


def lacking_kind(truth: Truth | None) -> str | None:
    """`anomalous` or `normal`: the kind that labelled images lack; None when both kinds are
    there, or when the images carry no anomaly labels (nothing is measured then)."""
    if truth is None or len(truth) == 0:
        return None
    if not truth.anomalous.any():
        return "anomalous"
    if truth.anomalous.all():
        return "normal"
    return None


def one_kind_test(splits: DataSplits, spec: Spec, code: str) -> Diagnostic | None:
    """`code` (E094 before a sweep, W112 for train) when the test split of labelled anomaly
    data holds one kind of image only: which kind it lacks, and what would give it both."""
    test = splits.test
    lacking = lacking_kind(test.truth)
    if lacking is None:
        return None
    n, whole = len(test), max(splits.test_split_images or 0, len(test))
    other = "normal" if lacking == "anomalous" else "anomalous"
    message = f"the test split holds no {lacking} image ({_held(n, whole, other)}): {UNDEFINED}"
    path, hint = _one_kind_hint(spec, lacking, n, whole)
    from caegen.compile.graph import locate

    return Diagnostic(code, message, locate(spec.source, path), hint)


def _held(n: int, whole: int, kind: str) -> str:
    """What the test split holds: `n` images of one `kind`, of `whole` (data.eval_limit)."""
    if whole == n:
        return f"its only image is {kind}" if n == 1 else f"its {n:,} images are all {kind}"
    if n == 1:
        article = "an" if kind == "anomalous" else "a"
        return f"data.eval_limit keeps its first image of {whole:,}, {article} {kind} one"
    return f"data.eval_limit keeps its first {n:,} of {whole:,} images, all {kind}"


def _one_kind_hint(spec: Spec, lacking: str, n: int, whole: int) -> tuple[tuple[str, ...], str]:
    """Where the spec decides it, and what gives the test split both kinds."""
    data = spec.data
    if whole > n:
        return ("data", "eval_limit"), (
            f"raise data.eval_limit above {n:,} (train's --eval-limit sets it too), or drop "
            f"it: the test split has {whole:,} images"
        )
    if data.normal is not None:
        if lacking == "anomalous":
            return ("data", "normal"), (
                "leave out of data.normal a label the test split holds: its images are the "
                "anomalies"
            )
        return ("data", "normal"), "choose data.normal labels that the test split holds"
    if data.source == "folder":
        return ("data", "path"), (
            f"add images of defects under {data.path}/test/<defect>/ (masks under "
            "ground_truth/<defect>/)"
            if lacking == "anomalous"
            else f"add normal images under {data.path}/test/good/"
        )
    return ("data", "source"), "give the test split normal and anomalous images both"
