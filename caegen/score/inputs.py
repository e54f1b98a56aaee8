"""The images `caegen score RUN IMAGES...` is given: files, folders and .npy arrays.

Images must have the model's input shape (height, width, channels) unless `fit` asks to
fit them as the spec's data is fitted. A folder in the MVTec AD layout is scored on its
`test/` split with labels and masks; a folder holding `good/` beside other folders is read
as MVTec's `test/` (labelled by folder), with masks from `masks` (its `ground_truth/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caegen.spec.schema import Spec
from caegen.training.images import IMAGE_SUFFIXES, Images, fit_images
from caegen.training.mvtec import GOOD, images_under, is_mvtec, labelled_test, mismatch

CHANNELS = {"L": 1, "I": 1, "I;16": 1, "F": 1, "1": 1, "LA": 2, "RGB": 3, "P": 3, "RGBA": 4}


@dataclass
class Inputs:
    images: Images
    description: str


def collect(paths: list[Path], spec: Spec, *, fit: bool, masks: Path | None) -> Inputs:
    """The images named by `paths`, checked against the model's input."""
    if len(paths) == 1 and paths[0].is_dir() and _labelled_folder(paths[0]) is not None:
        test_root, masks_root = _labelled_folder(paths[0])  # type: ignore[misc]
        files, truth = labelled_test(test_root, masks or masks_root)
        _check_files(files, spec, fit, str(paths[0]))
        return Inputs(Images(files=files, truth=truth), f"{len(files):,} images under {paths[0]}")
    if masks is not None:
        raise mismatch(
            f"--masks {masks} needs a folder of images labelled by subfolder (good/, <defect>/)",
            "pass one folder in the MVTec AD test layout, or leave out --masks",
        )
    arrays = [p for p in paths if p.suffix == ".npy"]
    if arrays:
        if len(arrays) != len(paths):
            raise mismatch("mix of .npy arrays and image files", "score them separately")
        stacked = np.concatenate([_array(p) for p in arrays])
        return Inputs(Images(_checked_array(stacked, spec, fit)), f"{len(stacked):,} images")
    files: list[str] = []
    for path in paths:
        files += images_under(path) if path.is_dir() else [str(path)]
    _check_files(files, spec, fit, ", ".join(map(str, paths)))
    return Inputs(Images(files=files), f"{len(files):,} images")


def _labelled_folder(root: Path) -> tuple[Path, Path | None] | None:
    if is_mvtec(root):
        return root / "test", root / "ground_truth"
    if (root / GOOD).is_dir() and any(p.is_dir() and p.name != GOOD for p in root.iterdir()):
        return root, None
    return None


def _check_files(files: list[str], spec: Spec, fit: bool, where: str) -> None:
    from PIL import Image, UnidentifiedImageError

    if not files:
        raise mismatch(
            f"no images found in {where}",
            f"pass image files ({', '.join(IMAGE_SUFFIXES)}), folders of them, or .npy arrays",
        )
    h, w, c = spec.input
    for path in files:
        if not Path(path).is_file():
            raise mismatch(f"no such image file: {path}", "check the path")
        try:
            with Image.open(path) as image:
                size, mode = image.size, image.mode
        except (OSError, UnidentifiedImageError) as exc:
            raise mismatch(
                f"cannot read {path}: {exc}", "pass PNG, JPEG, GIF or BMP images"
            ) from None
        channels = CHANNELS.get(mode, 3)
        if not fit and (size != (w, h) or channels != c):
            raise _shape_error(f"{path} is {size[1]}x{size[0]}x{channels}", spec)


def _array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise mismatch(f"no such file: {path}", "check the path")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise mismatch(f"cannot read {path}: {exc}", "save images with np.save") from None


def _checked_array(x: np.ndarray, spec: Spec, fit: bool) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or not len(x) or x.dtype.kind not in "biuf":
        raise mismatch(
            f"the array holds {x.dtype} values of shape {x.shape}",
            "save images as (N, H, W) or (N, H, W, C) numbers",
        )
    x = x.astype(np.float32) / (255.0 if x.dtype.kind in "biu" else 1.0)
    if not fit and tuple(x.shape[1:]) != tuple(spec.input):
        raise _shape_error(f"the images are {'x'.join(map(str, x.shape[1:]))}", spec)
    if np.isnan(x).any() or x.min() < 0.0 or x.max() > 1.0:
        raise mismatch(
            "the array's values are outside [0, 1] (floats) or 0..255 (integers)",
            "save images as floats in [0, 1] or as uint8",
        )
    return fit_images(x, spec.input, spec.data.fit) if fit else x


def _shape_error(what: str, spec: Spec):  # type: ignore[no-untyped-def]
    h, w, c = spec.input
    return mismatch(
        f"{what}; the model takes {h}x{w}x{c} images",
        "pass images of the model's input shape, or --fit to fit them as the spec's data "
        f"(data.fit: {spec.data.fit}, channels converted)",
    )
