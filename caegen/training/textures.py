"""`textures`: scikit-image's bundled brick, grass and gravel cut into patches, with synthetic
defects and their pixel masks (offline anomaly-detection data, like one MVTec AD texture).

Each 512x512 texture is cut in three bands of rows, so no pixel is in two splits: training
(the top 5/8), calibration (the next 1/8: normal patches that choose the threshold) and
test (the bottom 1/4). Half of the test patches get one defect each, in turn a scratch,
a blob or a cut-paste from another texture, drawn from `data.defect_seed` alone: the same
seed gives the same images and masks on every machine.
"""

from __future__ import annotations

import numpy as np

from caegen.spec.schema import Spec
from caegen.training.truth import GOOD, Truth

TEXTURES = ("brick", "grass", "gravel")
DEFECTS = ("scratch", "blob", "cutpaste")
MAX_PATCH = 64
"""Patches are cut at the input's size up to this; larger inputs get them resized."""
BANDS = {"train": (0.0, 0.625), "calibration": (0.625, 0.75), "test": (0.75, 1.0)}


def texture(name: str) -> np.ndarray:
    """One of scikit-image's bundled gray textures as float32 in [0, 1]."""
    import skimage.data

    return getattr(skimage.data, name)().astype(np.float32) / 255.0


def patches(image: np.ndarray, band: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """Patches of `size` from the rows of `band`, overlapping by half a patch."""
    ph, pw = size
    top, bottom = (round(f * image.shape[0]) for f in band)
    rows = range(top, bottom - ph + 1, max(1, ph // 2))
    cols = range(0, image.shape[1] - pw + 1, max(1, pw // 2))
    return np.stack([image[r : r + ph, c : c + pw] for r in rows for c in cols])


def scratch(patch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin straight line, much darker or brighter than the texture around it."""
    from skimage.draw import polygon

    h, w = patch.shape
    length = rng.uniform(0.5, 0.9) * min(h, w)
    angle = rng.uniform(0, np.pi)
    width = max(1.0, min(h, w) / 20)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    dy, dx = np.sin(angle) * length / 2, np.cos(angle) * length / 2
    ny, nx = np.cos(angle) * width / 2, -np.sin(angle) * width / 2
    ys = [cy - dy - ny, cy - dy + ny, cy + dy + ny, cy + dy - ny]
    xs = [cx - dx - nx, cx - dx + nx, cx + dx + nx, cx + dx - nx]
    mask = np.zeros((h, w), bool)
    mask[polygon(ys, xs, (h, w))] = True
    shade = 0.95 if patch.mean() < 0.5 else 0.05
    out = patch.copy()
    out[mask] = 0.2 * patch[mask] + 0.8 * shade
    return out, mask


def blob(patch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An ellipse of flat, shifted intensity with a little noise (a stain)."""
    from skimage.draw import ellipse

    h, w = patch.shape
    ry, rx = rng.uniform(0.12, 0.25) * h, rng.uniform(0.12, 0.25) * w
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    mask = np.zeros((h, w), bool)
    mask[ellipse(cy, cx, ry, rx, (h, w), rotation=rng.uniform(0, np.pi))] = True
    level = patch.mean() + (0.35 if patch.mean() < 0.5 else -0.35)
    out = patch.copy()
    noise = rng.normal(0.0, 0.03, int(mask.sum())).astype(np.float32)
    out[mask] = np.clip(0.25 * patch[mask] + 0.75 * level + noise, 0.0, 1.0)
    return out, mask


def cutpaste(
    patch: np.ndarray, rng: np.random.Generator, donor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A rectangle of another texture pasted in (CutPaste with a foreign source)."""
    h, w = patch.shape
    rh, rw = (max(2, int(rng.uniform(0.25, 0.45) * s)) for s in (h, w))
    top, left = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    sy = int(rng.integers(0, donor.shape[0] - rh + 1))
    sx = int(rng.integers(0, donor.shape[1] - rw + 1))
    out = patch.copy()
    out[top : top + rh, left : left + rw] = donor[sy : sy + rh, sx : sx + rw]
    mask = np.zeros((h, w), bool)
    mask[top : top + rh, left : left + rw] = True
    return out, mask


def with_defects(
    test: np.ndarray, name: str, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(images, anomalous, kinds, masks): every other patch, in a seeded order, gets a
    defect; the defect types take turns."""
    rng = np.random.default_rng([seed, TEXTURES.index(name)])
    n = len(test)
    chosen = np.sort(rng.permutation(n)[: n // 2])
    donor = texture(TEXTURES[(TEXTURES.index(name) + 1) % len(TEXTURES)])
    images, masks = test.copy(), np.zeros(test.shape, bool)
    kinds = [GOOD] * n
    for turn, i in enumerate(chosen):
        kind = DEFECTS[turn % len(DEFECTS)]
        if kind == "scratch":
            images[i], masks[i] = scratch(test[i], rng)
        elif kind == "blob":
            images[i], masks[i] = blob(test[i], rng)
        else:
            images[i], masks[i] = cutpaste(test[i], rng, donor)
        kinds[i] = kind
    anomalous = np.array([k != GOOD for k in kinds])
    return images, anomalous, kinds, masks


def load_textures(spec: Spec):  # type: ignore[no-untyped-def]
    """The `textures` source: train, calibration and test patches (test with truth)."""
    from caegen.training.images import DataSplits, Images

    name = spec.data.texture or "brick"
    seed = spec.data.defect_seed or 0
    size = (min(spec.input[0], MAX_PATCH), min(spec.input[1], MAX_PATCH))
    image = texture(name)
    cut = {split: patches(image, band, size) for split, band in BANDS.items()}
    images, anomalous, kinds, masks = with_defects(cut["test"], name, seed)
    test = Images(images, truth=Truth(anomalous, kinds, masks))
    return DataSplits(
        Images(cut["train"]),
        test,
        f"scikit-image {name} texture, {size[0]}x{size[1]} patches, synthetic defects "
        f"(seed {seed}): {int(anomalous.sum())} of {len(kinds)} test patches defective",
        calibration=Images(cut["calibration"]),
    )
