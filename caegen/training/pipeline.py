"""tf.data input pipelines whose every random choice is keyed by seed and position.

Training: epoch e visits the split in one permutation keyed by (seed, e), in batches of
`batch_size` (the last one smaller); denoising noise for step s of epoch e is keyed by
(seed, e, s). A resumed run therefore sees exactly what the uninterrupted run saw.
Evaluation: the whole test split in order, noise for image i keyed by (seed, i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from caegen.spec.schema import Spec
from caegen.training.images import Images


def to_range(x: Any, data_range: str) -> Any:
    """[0, 1] images to the spec's range."""
    return x * 2.0 - 1.0 if data_range == "symmetric" else x


def range_bounds(data_range: str) -> tuple[float, float]:
    return (-1.0, 1.0) if data_range == "symmetric" else (0.0, 1.0)


def steps_per_epoch(images: int, batch_size: int) -> int:
    return max(1, math.ceil(images / batch_size))


def decode_file(path: Any, spec: Spec) -> Any:
    """One image file as an (H, W, C) float tensor in [0, 1], channels converted."""
    import tensorflow as tf

    h, w, c = spec.input
    image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    image = tf.cast(image, tf.float32) / 255.0
    image = convert_channels(image, c)
    image = tf.image.resize(image, (h, w), antialias=True)
    return tf.clip_by_value(tf.ensure_shape(image, (h, w, c)), 0.0, 1.0)


def convert_channels(image: Any, channels: int) -> Any:
    """Gray, gray+alpha, RGB or RGBA to `channels` (1, 3 or 4): alpha dropped or made opaque."""
    import tensorflow as tf

    have = tf.shape(image)[-1]
    color = tf.cond(
        have >= 3,
        lambda: image[..., :3],
        lambda: tf.repeat(image[..., :1], 3, axis=-1),
    )
    color = tf.ensure_shape(color, [None, None, 3])
    if channels == 1:
        return tf.image.rgb_to_grayscale(color)
    if channels == 3:
        return color
    alpha = tf.cond(
        tf.equal(have, 4) | tf.equal(have, 2),
        lambda: image[..., -1:],
        lambda: tf.ones_like(image[..., :1]),
    )
    alpha = tf.ensure_shape(alpha, [None, None, 1])
    return tf.concat([color, alpha], axis=-1)


def _noisy(x: Any, spec: Spec, seed: Any, rows: tuple[Any, Any, Any] | None = None) -> Any:
    """x plus noise keyed by `seed`. `rows` (start, end, batch): x is rows start..end of a
    batch of that size, and gets those rows of the batch's noise."""
    import tensorflow as tf

    low, high = range_bounds(spec.data.range)
    scale = spec.data.noise.stddev * (high - low)  # type: ignore[union-attr]
    if rows is None:
        noise = tf.random.stateless_normal(tf.shape(x), seed=seed, stddev=scale)
    else:
        start, end, batch = rows
        shape = tf.concat([[batch], tf.shape(x)[1:]], axis=0)
        noise = tf.random.stateless_normal(shape, seed=seed, stddev=scale)[start:end]
    return tf.clip_by_value(x + noise, low, high)


def _fetcher(images: Images, spec: Spec) -> Any:
    """fetch(index) -> that image (or batch of images) of the split, in the spec's range."""
    import tensorflow as tf

    if images.array is not None:
        source = tf.constant(to_range(images.array, spec.data.range))
        return lambda i: tf.gather(source, i)
    files = tf.constant(images.files or [])
    return lambda i: to_range(decode_file(tf.gather(files, i), spec), spec.data.range)


def _epoch_order(n: int, seed: Any, epoch: Any) -> Any:
    """Epoch `epoch`'s permutation of the split's n images, keyed by (seed, epoch)."""
    import tensorflow as tf

    return tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int64), seed=tf.stack([seed, epoch])
    )


def _step_key(seed: Any, epoch: Any, step: Any) -> Any:
    """The noise key of a global batch, from (seed, epoch, step)."""
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(tf.stack([seed, epoch]), step)


def training_dataset(
    images: Images,
    spec: Spec,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    shard: Shard | None = None,
) -> Any:
    """(input, target) batches of epochs first_epoch .. epochs-1 (0-based), in order.

    With a `shard`, each global batch (its images and its noise) is cut into equal parts,
    one per replica of the job, of which this input pipeline yields its own (one after
    the other, for its local replicas): the replicas together see exactly what one
    process would. A last batch smaller than the number of replicas is left out.
    """
    import tensorflow as tf

    if shard is not None and shard.replicas > 1:
        return _sharded_training_dataset(
            images, spec, batch_size, seed, range(first_epoch, epochs), shard
        )
    n = len(images)
    in_memory = images.array is not None
    fetch = _fetcher(images, spec)
    seed_t = tf.constant(seed, tf.int64)

    def epoch_batches(epoch: Any) -> Any:
        ds = tf.data.Dataset.from_tensor_slices(_epoch_order(n, seed_t, epoch))
        if in_memory:  # one gather per batch
            parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
            ds = ds.batch(batch_size).map(fetch, **parallel)
        else:
            ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            ds = ds.batch(batch_size)
        return ds.enumerate().map(lambda step, x: (epoch, step, x))

    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_batches)
    if spec.data.noise is None:
        ds = ds.map(lambda e, s, x: (x, x))
    else:

        def noisy(epoch: Any, step: Any, x: Any) -> tuple[Any, Any]:
            return _noisy(x, spec, _step_key(seed_t, epoch, step)), x

        ds = ds.map(noisy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _sharded_training_dataset(
    images: Images, spec: Spec, batch_size: int, seed: int, epochs: range, shard: Shard
) -> Any:
    """This pipeline's parts of every global batch: the images are cut by index before
    they are read, so a worker reads and decodes only its own part."""
    import tensorflow as tf

    n = len(images)
    fetch = _fetcher(images, spec)
    seed_t = tf.constant(seed, tf.int64)
    image = tf.TensorSpec(tuple(spec.input), tf.float32)

    def epoch_batches(epoch: Any) -> Any:
        order = _epoch_order(n, seed_t, epoch)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return batches.map(lambda step, indices: (epoch, step, indices))

    def load(epoch: Any, step: Any, indices: Any, start: Any, end: Any, m: Any) -> Any:
        if images.array is not None:
            x = fetch(indices)
        else:
            x = tf.map_fn(fetch, indices, fn_output_signature=image)
        if spec.data.noise is None:
            return x, x
        return _noisy(x, spec, _step_key(seed_t, epoch, step), rows=(start, end, m)), x

    ds = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(epoch_batches)
    ds = ds.filter(lambda e, s, indices: tf.shape(indices)[0] >= shard.replicas)
    ds = ds.flat_map(shard.parts)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True)
class Shard:
    """This input pipeline's replicas `first .. first + local - 1` of `replicas` in all."""

    first: int
    local: int
    replicas: int

    def steps(self, images: int, batch_size: int) -> int:
        """Steps per epoch: every global batch big enough to give each replica an image."""
        full, rest = divmod(images, batch_size)
        return full + (1 if rest >= self.replicas else 0)

    def _bounds(self, m: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        r = tf.range(self.first, self.first + self.local, dtype=m.dtype)
        return (m * r) // self.replicas, (m * (r + 1)) // self.replicas

    def parts(self, epoch: Any, step: Any, indices: Any) -> Any:
        """(epoch, step, this replica's indices, start, end, global batch size), for each
        local replica of this pipeline."""
        import tensorflow as tf

        m = tf.shape(indices, out_type=tf.int64)[0]
        starts, ends = self._bounds(m)
        return tf.data.Dataset.range(self.local).map(
            lambda i: (epoch, step, indices[starts[i] : ends[i]], starts[i], ends[i], m)
        )

    def apply(self, ds: Any) -> Any:
        """This pipeline's parts of each (input, target) batch of `ds` (for evaluation)."""
        import tensorflow as tf

        def parts(x: Any, y: Any) -> Any:
            starts, ends = self._bounds(tf.shape(x, out_type=tf.int64)[0])
            return tf.data.Dataset.range(self.local).map(
                lambda i: (x[starts[i] : ends[i]], y[starts[i] : ends[i]])
            )

        # an empty part fails in TensorFlow's oneDNN convolution ("input depth must be
        # evenly divisible by filter depth"), so a batch too small to cut is left out
        ds = ds.filter(lambda x, y: tf.shape(x)[0] >= self.replicas)
        return ds.flat_map(parts)


def evaluation_dataset(
    images: Images,
    spec: Spec,
    batch_size: int,
    seed: int,
    indices: list[int] | None = None,
    cache: bool = False,
) -> Any:
    """(input, target) batches of the split (or of `indices`), in order.

    `cache` keeps the noisy inputs of an in-memory split after the first pass (for the
    validation run every epoch); they are the same every time, keyed by image index.
    """
    import tensorflow as tf

    fetch = _fetcher(images, spec)
    order = np.arange(len(images)) if indices is None else np.asarray(indices)
    ds = tf.data.Dataset.from_tensor_slices(order.astype(np.int64))
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    in_memory = images.array is not None
    if in_memory and spec.data.noise is None:  # one gather per batch
        ds = ds.batch(batch_size).map(lambda i: _same(fetch(i)), **parallel)
        return ds.prefetch(tf.data.AUTOTUNE)
    seed_t = tf.constant(seed, tf.int64)

    def pair(i: Any) -> tuple[Any, Any]:
        x = fetch(i)
        if spec.data.noise is None:
            return x, x
        return _noisy(x, spec, tf.stack([seed_t, i])), x

    ds = ds.map(pair, **parallel)
    if cache and in_memory:
        ds = ds.cache()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _same(x: Any) -> tuple[Any, Any]:
    return x, x


def evaluation_arrays(
    images: Images, spec: Spec, seed: int, indices: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) arrays of the chosen test images: for small samples only."""
    inputs, targets = [], []
    for x, y in evaluation_dataset(images, spec, 256, seed, indices).as_numpy_iterator():
        inputs.append(x)
        targets.append(y)
    return np.concatenate(inputs), np.concatenate(targets)


def undecodable(exc: Any, spec: Spec, files: list[str] | None = None) -> Any:
    """E053 for an image file that TensorFlow could not decode while streaming, named."""
    from caegen.training.images import unavailable

    message = str(getattr(exc, "message", exc))
    reason = message.strip().splitlines()[0] if message.strip() else "unknown error"
    for line in message.splitlines():
        if line.startswith("Error in user-defined function"):
            reason = line.rsplit(": ", 1)[-1]
    culprit = _first_undecodable(files or [])
    if culprit is not None:
        path, reason = culprit
        what = path
    else:
        what = f"an image under {spec.data.path}"
    return unavailable(
        f"{what} could not be decoded: {reason}",
        "open it with an image viewer or PIL's Image.verify(), then remove or re-save it",
    )


def _first_undecodable(files: list[str]) -> tuple[str, str] | None:
    """The first file TensorFlow cannot decode, and why (asked only after a decode failed)."""
    import tensorflow as tf

    for path in files:
        try:
            tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        except (tf.errors.OpError, ValueError) as exc:
            message = str(getattr(exc, "message", exc)).strip()
            return path, message.splitlines()[0] if message else type(exc).__name__
    return None


def spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n)."""
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n))})
