"""What `load_data` and the input pipeline do to an image before the model sees it, as data.

An exported model carries this description (ONNX metadata `preprocessing`), so a consumer can
prepare its own images the same way without the spec: read, scale to [0, 1], convert the
channels, fit to the input size, clip, map to the spec's range. Each step names the exact
call caegen makes. Keep it in step with `caegen.training.data` and `.pipeline`: a test
reproduces the pipeline from this description alone.
"""

from __future__ import annotations

from typing import Any

from caegen.spec.schema import Spec
from caegen.training.data import PATCH
from caegen.training.images import LUMINANCE

TF_LUMINANCE = (0.2989, 0.5870, 0.1140)
"""tf.image.rgb_to_grayscale's weights (ITU-R 601), used for files read from a folder."""

# What each source reads: (what, (height, width) or None, channels or None, value scale).
SOURCES: dict[str, tuple[str, tuple[int, int] | None, int | None, float | None]] = {
    "digits": ("sklearn.datasets.load_digits().images: gray, integers 0..16", (8, 8), 1, 16.0),
    "mnist": ("keras.datasets.mnist: gray, uint8", (28, 28), 1, 255.0),
    "fashion_mnist": ("keras.datasets.fashion_mnist: gray, uint8", (28, 28), 1, 255.0),
    "cifar10": ("keras.datasets.cifar10: RGB, uint8", (32, 32), 3, 255.0),
    "cifar100": ("keras.datasets.cifar100: RGB, uint8", (32, 32), 3, 255.0),
    "patches": (
        f"{PATCH}x{PATCH} crops of scikit-image's bundled photos (uint8); RGB for a "
        f"3-channel input (gray photos repeated), else gray (RGB weighed {LUMINANCE})",
        (PATCH, PATCH),
        None,
        255.0,
    ),
    "npz": ("the .npz arrays x_train / x_test: (N, H, W) or (N, H, W, C)", None, None, None),
    "textures": (
        "scikit-image's bundled gray textures (brick, grass, gravel; uint8) cut into patches of "
        "the input's size (at most 64x64, then resized), test patches with seeded defects",
        None,
        1,
        255.0,
    ),
    "folder": (
        "image files (PNG, JPEG, GIF, BMP) decoded to uint8 by tf.io.decode_image",
        None,
        None,
        255.0,
    ),
}

NPZ_SCALE_RULE = (
    "integer arrays: 255; float arrays: 1, or 255 when every value of both splits is a "
    "whole number in 0..255"
)


def describe(spec: Spec, part: str, scale: float | None = None) -> dict[str, Any]:
    """The preprocessing of `spec`'s images as plain data (JSON-serializable).

    `scale` is what the data were divided by when that depends on the data (npz); None
    records the rule instead. `part` is the exported part: a decoder reads latent codes.
    """
    h, w, c = spec.input
    out: dict[str, Any] = {
        "layout": f"NHWC float32, batch first: (batch, {h}, {w}, {c})",
        "source": spec.data.source,
    }
    if part == "decoder":
        out["input"] = "latent codes: the encoder's output for images prepared as below"
    out["steps"] = [
        _read(spec),
        _scale(spec, scale),
        _channels(spec),
        _fit(spec),
        {"step": "clip", "low": 0.0, "high": 1.0},
        _range(spec.data.range),
    ]
    if spec.data.noise is not None:
        low, high = (-1.0, 1.0) if spec.data.range == "symmetric" else (0.0, 1.0)
        out["noise"] = {
            "stddev": spec.data.noise.stddev,
            "absolute_stddev": spec.data.noise.stddev * (high - low),
            "note": "trained on inputs with Gaussian noise of absolute_stddev added after the "
            "range mapping and clipped to the range, targets clean: feed a noisy image as "
            "it is, prepared by the steps above",
        }
    if part != "encoder":
        out["output"] = {
            "range": spec.data.range,
            "to_unit": "(y + 1) / 2" if spec.data.range == "symmetric" else "y",
        }
    return out


def _read(spec: Spec) -> dict[str, Any]:
    what, size, channels, _ = SOURCES[spec.data.source]
    step: dict[str, Any] = {"step": "read", "what": what}
    if size is not None:
        step["size"] = list(size)
    if channels is not None:
        step["channels"] = channels
    return step


def _scale(spec: Spec, scale: float | None) -> dict[str, Any]:
    known = SOURCES[spec.data.source][3]
    divisor = scale if scale is not None else known
    step: dict[str, Any] = {"step": "scale", "divide_by": divisor, "dtype": "float32"}
    if spec.data.source == "npz":
        step["rule"] = NPZ_SCALE_RULE
    return step


def _channels(spec: Spec) -> dict[str, Any]:
    c = spec.input[2]
    folder = spec.data.source == "folder"
    weights = TF_LUMINANCE if folder else LUMINANCE
    rules = {
        1: f"RGB (the first 3 channels) -> gray: {weights[0]} R + {weights[1]} G + "
        f"{weights[2]} B; gray stays gray",
        3: "gray -> RGB: the gray channel repeated 3 times; RGBA -> RGB: alpha dropped",
        4: "gray -> RGB repeated, then alpha: the image's own (gray + alpha, RGBA) or 1",
    }
    step: dict[str, Any] = {
        "step": "channels",
        "to": c,
        "rule": rules.get(c, "kept as they are (only an npz array gives 2 channels)"),
        "two_channels_are": "gray + alpha",
    }
    if folder:
        step["implementation"] = "tf.image.rgb_to_grayscale for gray"
    return step


def _fit(spec: Spec) -> dict[str, Any]:
    h, w, c = spec.input
    size = SOURCES[spec.data.source][1]
    step: dict[str, Any] = {"step": "fit", "size": [h, w]}
    if size is not None and tuple(size) == (h, w):
        return {**step, "method": "none", "note": "the source's images are already this size"}
    if spec.data.source == "folder":  # the pipeline resizes every file
        return {
            **step,
            "method": "resize",
            "interpolation": "bilinear",
            "antialias": True,
            "keeps_aspect_ratio": False,
            "implementation": f"tf.image.resize(image, ({h}, {w}), antialias=True)",
        }
    if spec.data.fit == "pad":
        return {
            **step,
            "method": "pad",
            "note": "a larger side is cropped around the centre (offset (size - target) // 2), "
            "a smaller one zero-padded around it (offset (target - size) // 2)",
        }
    return {
        **step,
        "method": "resize",
        "interpolation": "bilinear",
        "antialias": True,
        "keeps_aspect_ratio": False,
        "implementation": f"skimage.transform.resize(image, ({h}, {w}, {c}), order=1, "
        "anti_aliasing=True)",
    }


def _range(data_range: str) -> dict[str, Any]:
    if data_range == "symmetric":
        return {"step": "range", "range": "symmetric", "formula": "2 * x - 1", "bounds": [-1, 1]}
    return {"step": "range", "range": "unit", "formula": "x", "bounds": [0, 1]}
