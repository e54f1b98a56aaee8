"""tf.data input pipelines: cache, shuffle, batch, noise on the fly, prefetch."""

from __future__ import annotations

from typing import Any

import numpy as np

from caegen.data import Images
from caegen.spec import Spec


def to_range(x: Any, data_range: str) -> Any:
    """[0, 1] images to the spec's range."""
    return x * 2.0 - 1.0 if data_range == "symmetric" else x


def range_bounds(data_range: str) -> tuple[float, float]:
    return (-1.0, 1.0) if data_range == "symmetric" else (0.0, 1.0)


def _decode_files(files: list[str], spec: Spec) -> Any:
    import tensorflow as tf

    h, w, c = spec.input

    def load(path: Any) -> Any:
        image = tf.io.decode_image(tf.io.read_file(path), channels=c, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, (h, w), antialias=True)
        return tf.clip_by_value(tf.ensure_shape(image, (h, w, c)), 0.0, 1.0)

    return tf.data.Dataset.from_tensor_slices(files).map(load, num_parallel_calls=tf.data.AUTOTUNE)


def clean_images(images: Images, spec: Spec) -> Any:
    """A dataset of single images in the spec's range (arrays are cached in memory)."""
    import tensorflow as tf

    if images.array is not None:
        ds = tf.data.Dataset.from_tensor_slices(to_range(images.array, spec.data.range)).cache()
    else:
        ds = _decode_files(images.files or [], spec).map(lambda x: to_range(x, spec.data.range))
    return ds


def add_noise(x: np.ndarray, spec: Spec, seed: int) -> np.ndarray:
    """The same noise as training, in NumPy (for fixed validation and test inputs)."""
    if spec.data.noise is None:
        return x
    low, high = range_bounds(spec.data.range)
    rng = np.random.default_rng(seed)
    scale = spec.data.noise.stddev * (high - low)
    return np.clip(x + rng.normal(0.0, scale, x.shape).astype(np.float32), low, high)


def training_dataset(images: Images, spec: Spec, batch_size: int, seed: int) -> Any:
    """Endless (noisy, clean) batches; call fit with steps_per_epoch.

    Noise is drawn with stateless ops from a seeded stream, so a run is reproducible and
    each epoch sees fresh noise.
    """
    import tensorflow as tf

    ds = clean_images(images, spec)
    ds = ds.shuffle(min(len(images), 50_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().batch(batch_size, drop_remainder=False)
    noise = spec.data.noise
    if noise is None:
        ds = ds.map(lambda x: (x, x), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        low, high = range_bounds(spec.data.range)
        scale = noise.stddev * (high - low)
        seeds = tf.data.Dataset.random(seed=seed).batch(2)

        def noisy(x: Any, pair: Any) -> tuple[Any, Any]:
            n = tf.random.stateless_normal(tf.shape(x), seed=pair, stddev=scale)
            return tf.clip_by_value(x + n, low, high), x

        ds = tf.data.Dataset.zip((ds, seeds)).map(noisy, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def evaluation_arrays(
    images: Images, spec: Spec, seed: int, limit: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) arrays of test images in the spec's range, noise fixed by `seed`."""
    if images.array is not None:
        clean = to_range(images.array[:limit], spec.data.range)
    else:
        clean = np.stack(
            list(clean_images(Images(files=(images.files or [])[:limit]), spec).as_numpy_iterator())
        )
    return add_noise(clean, spec, seed), clean
