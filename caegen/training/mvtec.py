"""The MVTec AD layout of a `folder` source: `train/good/`, `test/<defect>/`, and the pixel
masks `ground_truth/<defect>/<name>_mask.png`.

Training reads `train/good/` (a share held out to choose the threshold); the test split is
every image under `test/`, normal when its folder is `good`, with its defect type and mask.
Images are streamed from disk like any folder source; masks are read when scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caegen.core.diagnostics import CaegenError, error
from caegen.spec.schema import Spec
from caegen.training.truth import GOOD, Truth, calibration_fraction, hold_out

MASK_SUFFIX = "_mask.png"


def is_mvtec(root: Path) -> bool:
    return (root / "train" / GOOD).is_dir() and (root / "test").is_dir()


def mismatch(message: str, hint: str) -> CaegenError:
    return error("E096", message, hint)


def images_under(folder: Path) -> list[str]:
    from caegen.training.images import IMAGE_SUFFIXES

    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def labelled_test(test_root: Path, masks_root: Path | None) -> tuple[list[str], Truth]:
    """Every image under `test_root/<kind>/`, labelled by its folder, with its mask file
    from `masks_root/<kind>/<name>_mask.png` (when there are masks: each defect image
    needs one and each mask its image)."""
    files: list[str] = []
    kinds: list[str] = []
    for folder in sorted(p for p in test_root.iterdir() if p.is_dir()):
        found = images_under(folder)
        files += found
        kinds += [folder.name] * len(found)
    anomalous = np.array([k != GOOD for k in kinds], dtype=bool)
    if masks_root is None or not masks_root.is_dir():
        return files, Truth(anomalous, kinds)
    mask_files: list[str | None] = []
    for path, kind in zip(files, kinds):
        mask = masks_root / kind / f"{Path(path).stem}{MASK_SUFFIX}"
        if kind != GOOD and not mask.is_file():
            raise mismatch(
                f"{path} has no mask: {mask} is missing",
                f"add the mask, or remove {masks_root} to score without pixel metrics",
            )
        mask_files.append(str(mask) if mask.is_file() else None)
    _refuse_orphan_masks(masks_root, set(filter(None, mask_files)))
    return files, Truth(anomalous, kinds, mask_files=mask_files)


def _refuse_orphan_masks(masks_root: Path, used: set[str]) -> None:
    orphans = [p for p in sorted(masks_root.rglob(f"*{MASK_SUFFIX}")) if str(p) not in used]
    if orphans:
        shown = ", ".join(str(p) for p in orphans[:3]) + (", ..." if len(orphans) > 3 else "")
        raise mismatch(
            f"{len(orphans)} mask(s) under {masks_root} belong to no test image: {shown}",
            "a mask <kind>/<name>_mask.png needs the image test/<kind>/<name>.<ext>",
        )


def load_mvtec(spec: Spec, root: Path):  # type: ignore[no-untyped-def]
    """The MVTec AD layout under `root` as train, calibration and test splits."""
    from caegen.training.images import DataSplits, Images, unavailable

    train = images_under(root / "train" / GOOD)
    if len(train) < 2:
        raise unavailable(
            f"{root / 'train' / GOOD} holds {len(train)} image(s)",
            "put the normal training images there (at least 2)",
        )
    files, truth = labelled_test(root / "test", root / "ground_truth")
    if not files:
        raise unavailable(f"{root / 'test'} holds no images", "add test/good/ and test/<defect>/")
    kept, held = hold_out(Images(files=train), calibration_fraction(spec))
    defects = sorted({k for k in truth.kinds if k != GOOD})
    return DataSplits(
        kept,
        Images(files=files, truth=truth),
        f"MVTec AD layout under {root}: {len(kept.files or [])} train, {len(held.files or [])} "
        f"held out for the threshold, {len(files)} test images (defects: "
        f"{', '.join(defects) or 'none'})",
        calibration=held,
    )


def read_masks(
    images: list[str], masks: list[str | None], size: tuple[int, int], fit: str
) -> np.ndarray:
    """Mask files (None: no defect) as (N, H, W) bool, fitted to the input as their images
    are; a mask of another size than its image is refused (E096)."""
    from PIL import Image

    from caegen.training.images import fit_masks

    out = np.zeros((len(masks), *size), bool)
    for i, (image_path, path) in enumerate(zip(images, masks)):
        if path is None:
            continue
        with Image.open(image_path) as image:
            image_size = image.size
        with Image.open(path) as image:
            if image.size != image_size:
                raise mismatch(
                    f"the mask {path} is {image.size[0]}x{image.size[1]} but its image "
                    f"{image_path} is {image_size[0]}x{image_size[1]}",
                    "a mask must have its image's size (width x height)",
                )
            mask = np.asarray(image.convert("L")) > 127
        out[i] = fit_masks(mask[None], size, fit)[0]
    return out
