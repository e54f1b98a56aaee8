"""Data sources: train and test images in [0, 1], fitted to the spec's input by `load_data`.

`digits` and `patches` ship with scikit-learn / scikit-image (offline). `mnist`,
`fashion_mnist`, `cifar10` and `cifar100` read the files Keras caches in
~/.keras/datasets (KERAS_HOME), downloading through keras.datasets when absent.
`folder` streams images from disk (MVTec AD's layout with its labels and masks);
`npz` reads a user's arrays; `textures` cuts scikit-image's textures into patches with
synthetic defects. `data.classes` and `data.normal` are applied to every labelled source.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from caegen.compile.memory import available_memory
from caegen.core.diagnostics import CaegenError
from caegen.spec.schema import Spec
from caegen.training.images import (
    IMAGE_SUFFIXES,
    LUMINANCE,
    DataSplits,
    Images,
    fit_images,
    fit_masks,
    unavailable,
)
from caegen.training.textures import load_textures
from caegen.training.truth import apply_label_protocol

PATCH = 32


def _split(
    x: np.ndarray, y: np.ndarray | None, test_fraction: float, seed: int = 0
) -> tuple[Images, Images]:
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return (
        Images(x[train], labels=None if y is None else y[train]),
        Images(x[test], labels=None if y is None else y[test]),
    )


# --- sources -------------------------------------------------------------------------------
def _digits(spec: Spec) -> DataSplits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    train, test = _split((digits.images / 16.0).astype(np.float32), digits.target, 0.2)
    return DataSplits(
        train, test, "scikit-learn digits (8x8 handwritten, 1,797 images)", scale=16.0
    )


RGB_TRAIN = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina")
RGB_TEST = ("coffee", "rocket")
GRAY_TRAIN = ("camera", "moon", "brick", "grass", "page", "cell")
GRAY_TEST = ("coins", "gravel", "clock", "text")


def _photo(name: str, channels: int) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1) if channels == 3 else image[..., None]
    elif channels == 1:
        image = (image[..., :3] @ np.array(LUMINANCE, np.float32))[..., None]
    return image


def _crops(names: tuple[str, ...], channels: int) -> np.ndarray:
    out = []
    for name in names:
        image = _photo(name, channels)
        for top in range(0, image.shape[0] - PATCH + 1, PATCH):
            for left in range(0, image.shape[1] - PATCH + 1, PATCH):
                crop = image[top : top + PATCH, left : left + PATCH]
                if crop.std() > 0.02:  # skip flat background (black retina borders, sky)
                    out.append(crop)
    return np.stack(out)


def _patches(spec: Spec) -> DataSplits:
    c = spec.input[2]
    train_names, test_names = (
        (RGB_TRAIN, RGB_TEST) if c == 3 else (GRAY_TRAIN + RGB_TRAIN, GRAY_TEST + RGB_TEST)
    )
    photo_channels = 1 if c == 1 else 3  # other counts are converted by fit_images
    train, test = _crops(train_names, photo_channels), _crops(test_names, photo_channels)
    rng = np.random.default_rng(0)
    train = train[rng.permutation(len(train))]
    return DataSplits(
        Images(train),
        Images(test),
        f"32x32 crops of scikit-image photos (train: {', '.join(train_names)}; "
        f"test: {', '.join(test_names)})",
    )


def keras_datasets_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


# What keras.datasets leaves in ~/.keras/datasets for each source.
KERAS_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
}


def _read_idx_gz(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _read_cached(source: str, path: Path) -> tuple[np.ndarray, Any, np.ndarray, Any]:
    """Read the files keras.datasets caches, in the same formats."""
    if source == "mnist":
        with np.load(path, allow_pickle=False) as f:
            return f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    if source == "fashion_mnist":

        def images(name: str) -> np.ndarray:
            return _read_idx_gz(path / name, 16).reshape(-1, 28, 28)

        return (
            images("train-images-idx3-ubyte.gz"),
            _read_idx_gz(path / "train-labels-idx1-ubyte.gz", 8),
            images("t10k-images-idx3-ubyte.gz"),
            _read_idx_gz(path / "t10k-labels-idx1-ubyte.gz", 8),
        )

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        with open(path / name, "rb") as f:
            d = pickle.load(f, encoding="bytes")  # the CIFAR format, as keras.datasets reads it
        labels = d.get(b"labels", d.get(b"fine_labels"))
        x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(labels)

    if source == "cifar10":
        parts = [
            batch(f"data_batch_{i}") for i in range(1, 6) if (path / f"data_batch_{i}").exists()
        ]
        x_test, y_test = batch("test_batch")
    else:
        parts = [batch("train")]
        x_test, y_test = batch("test")
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        x_test,
        y_test,
    )


DOWNLOAD_TIMEOUT_S = 60.0


def _download(source: str) -> tuple[np.ndarray, Any, np.ndarray, Any]:
    import socket

    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a blackholed network fails, not hangs
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, source).load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return x_train, y_train, x_test, y_test


def _keras_dataset(spec: Spec) -> DataSplits:
    source = spec.data.source
    cached = keras_datasets_dir() / KERAS_FILES[source]
    try:
        if cached.exists():
            x_train, y_train, x_test, y_test = _read_cached(source, cached)
        else:
            x_train, y_train, x_test, y_test = _download(source)
    except Exception as exc:  # a failed download or a damaged cache: both end the same way
        raise unavailable(
            f"cannot load `{source}`: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            f"without network access, place `{KERAS_FILES[source]}` (as keras.datasets "
            f"downloads it) in {keras_datasets_dir()}",
        ) from None
    return DataSplits(
        Images(x_train.astype(np.float32) / 255.0, labels=np.ravel(y_train)),
        Images(x_test.astype(np.float32) / 255.0, labels=np.ravel(y_test)),
        f"keras.datasets {source}",
    )


def _folder(spec: Spec, output_root: Path | None = None) -> DataSplits:
    root = Path(spec.data.path or "")
    if not root.is_dir():
        raise unavailable(
            f"data.path `{root}` is not a directory",
            "point data.path at a folder of images (searched recursively)",
        )
    from caegen.training.mvtec import is_mvtec, load_mvtec

    if is_mvtec(root):
        return load_mvtec(spec, root)
    skip = output_root.resolve() if output_root is not None else None
    files = sorted(str(p) for p in _walk(root, skip) if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise unavailable(
            f"found {len(files)} image(s) under {root}"
            + (f" (outside the run folder {output_root})" if skip is not None else ""),
            f"add images with suffixes {', '.join(IMAGE_SUFFIXES)}",
        )
    unreadable = [f for f in files if not _looks_like_an_image(f)]
    if unreadable:
        shown = ", ".join(unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
        raise unavailable(
            f"{len(unreadable)} of {len(files)} file(s) under {root} are not PNG, JPEG, GIF or "
            f"BMP images: {shown}",
            "remove or convert them (the files are not changed by caegen)",
        )
    test = files[::10]  # every tenth file, deterministic
    train = [f for i, f in enumerate(files) if i % 10]
    return DataSplits(Images(files=train), Images(files=test), f"{len(files)} images under {root}")


def _walk(root: Path, skip: Path | None) -> list[Path]:
    """Files under root, symlinked folders followed (each real folder once), `skip` left out:
    a run's own figures must never become its next run's data."""
    found: list[Path] = []
    seen: set[Path] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = Path(folder).resolve()
        if real in seen or (skip is not None and (real == skip or skip in real.parents)):
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found.extend(Path(folder) / name for name in names)
    return found


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def _looks_like_an_image(path: str) -> bool:
    """The format's signature, read from the first bytes (files are streamed later)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head.startswith(_IMAGE_MAGIC)


NPZ_HINT = "save it with np.savez(path, x_train=..., x_test=...)"


def _npz(spec: Spec) -> DataSplits:
    path = Path(spec.data.path or "")
    if path.is_dir():
        raise unavailable(f"{path} is a directory, not an .npz file", "use source: folder")
    if not path.is_file():
        raise unavailable(f"no such file: {path}", "data.path must name an .npz file")
    if not zipfile.is_zipfile(path):
        raise unavailable(f"{path} is not an .npz archive", NPZ_HINT)
    arrays = {key: _npz_member(path, key) for key in ("x_train", "x_test")}
    scale = _npz_scale(arrays, path)
    return DataSplits(
        Images(arrays["x_train"].astype(np.float32) / scale),
        Images(arrays["x_test"].astype(np.float32) / scale),
        f"arrays from {path}" + (" (0..255, scaled to [0, 1])" if scale != 1.0 else ""),
        scale=scale,
    )


def _npz_member(path: Path, key: str) -> np.ndarray:
    """One array of the archive, its header checked before its data is read."""
    where = f"{key} in {path}"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            missing = [k for k in ("x_train", "x_test") if f"{k}.npy" not in names]
            if missing:
                held = ", ".join(n.removesuffix(".npy") for n in names) or "nothing"
                raise unavailable(
                    f"{path} has no {' or '.join(missing)} (it holds: {held})", NPZ_HINT
                )
            with archive.open(f"{key}.npy") as f:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(f)
        _check_npz_header(where, shape, dtype)
        with np.load(path, allow_pickle=False) as f:
            x = f[key]
    except CaegenError:
        raise
    except MemoryError:
        raise unavailable(f"{where} does not fit in memory", "train on a smaller array") from None
    except Exception as exc:  # zlib.error, BadZipFile, ValueError: a damaged archive
        raise unavailable(
            f"cannot read {where}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            f"the archive is damaged; {NPZ_HINT}",
        ) from None
    return x


def _check_npz_header(where: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    ok_shape = (
        len(shape) in (3, 4) and all(shape) and (len(shape) == 3 or shape[-1] in (1, 2, 3, 4))
    )
    if not ok_shape:
        raise unavailable(
            f"{where} has shape {shape}; expected images (N, H, W) or (N, H, W, C) with C 1-4",
            "reshape it: one image per row of the first axis, no empty axis",
        )
    if dtype.kind not in "biuf":
        what = "complex" if dtype.kind == "c" else str(dtype)
        raise unavailable(f"{where} holds {what} values, not numbers", "save real arrays")
    needed = int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 4)
    available = available_memory()
    if available is not None and needed > available:
        gib = 1024**3
        raise unavailable(
            f"{where} declares {shape} ({needed / gib:.1f} GiB as float32); "
            f"{available / gib:.1f} GiB is available",
            "split the data, or put the images in a folder (source: folder streams them)",
        )


def _npz_scale(arrays: dict[str, np.ndarray], path: Path) -> float:
    """One scale for both splits: integers are 0..255; floats are [0, 1], or 0..255 when
    every value of both splits is a whole number in that range."""
    for key, x in arrays.items():
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise unavailable(
                f"{key} in {path} holds {float(x[index]):.6g} at index {index}",
                "clean the data first",
            )
    if all(x.dtype.kind in "biu" for x in arrays.values()):
        scale = 255.0
    else:
        high = max(float(x.max()) for x in arrays.values())
        whole = all(np.array_equal(x, np.round(x)) for x in arrays.values())
        scale = 255.0 if high > 1.0 and whole else 1.0
    for key, x in arrays.items():
        bad = (x < 0) | (x > scale)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            expected = "0..255" if scale == 255.0 else "[0, 1]"
            raise unavailable(
                f"{key} in {path} holds {float(x[index]):.6g} at index {index}, outside {expected} "
                "(the range is decided once for both splits from the dtype and the values)",
                "save images as uint8 in 0..255 or as floats in [0, 1]",
            )
    return scale


SOURCES = {
    "digits": _digits,
    "patches": _patches,
    "mnist": _keras_dataset,
    "fashion_mnist": _keras_dataset,
    "cifar10": _keras_dataset,
    "cifar100": _keras_dataset,
    "folder": _folder,
    "npz": _npz,
    "textures": load_textures,
}


def unfitted_splits(spec: Spec, output_root: Path | None = None) -> DataSplits:
    """The spec's splits as its source gives them, `data.classes` and `data.normal` applied
    and the test split cut to `data.eval_limit`; nothing resized (what the test split holds
    is known without fitting its images)."""
    source = SOURCES[spec.data.source]
    try:
        splits = source(spec, output_root) if source is _folder else source(spec)
        splits = apply_label_protocol(splits, spec)
    except OSError as exc:  # a path the user named: unreadable, too long, a loop
        from caegen.core.fsutil import os_error_reason

        raise unavailable(
            f"cannot read data.path `{spec.data.path}`: {os_error_reason(exc)}",
            "check the path and its permissions",
        ) from None
    splits.test_split_images = len(splits.test)
    if spec.data.eval_limit:
        splits.test = splits.test.head(spec.data.eval_limit)
    return splits


def load_data(spec: Spec, limit: int | None = None, output_root: Path | None = None) -> DataSplits:
    """The spec's data, fitted to its input shape, in [0, 1] (`range` is applied later).

    `limit` (default `data.limit`) limits the train split only; the test split stays whole
    unless `data.eval_limit` asks for its first N images. Sources return images at their
    own size; the limits are applied before fitting, so that only the images used are
    resized and held in memory. A folder source never reads `output_root` (where runs are
    written).
    """
    splits = unfitted_splits(spec, output_root)
    limit = limit or spec.data.limit
    if limit:
        splits.train = splits.train.head(limit)
    held = [i for i in (splits.train, splits.test, splits.calibration) if i is not None]
    _check_memory(spec, sum(len(i) for i in held if i.array is not None))
    for images in held:
        if images.array is not None:
            images.array = fit_images(images.array, spec.input, spec.data.fit)
        if images.truth is not None and images.truth.masks is not None:
            images.truth.masks = fit_masks(images.truth.masks, spec.input[:2], spec.data.fit)
    return splits


# The input pipeline holds about two more copies of in-memory arrays (tensor and cache).
PIPELINE_COPIES = 3


def _check_memory(spec: Spec, images: int) -> None:
    h, w, c = spec.input
    needed = images * h * w * c * 4 * PIPELINE_COPIES
    available = available_memory()
    if available is not None and needed > available:
        gib = 1024**3
        raise unavailable(
            f"{images:,} images of {h}x{w}x{c} need about {needed / gib:.1f} GiB in memory "
            f"(float32, with the input pipeline's copies); {available / gib:.1f} GiB is available",
            "train on fewer images (--limit or data.limit), use a smaller input, or put the "
            "images in a folder (source: folder streams them from disk)",
        )
