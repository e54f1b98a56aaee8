"""Scoring a trained autoencoder on the test split, in bounded memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from caegen.spec.schema import Spec
from caegen.training.images import DataSplits
from caegen.training.metrics import ReconstructionScore


def evaluation_split(data: DataSplits, spec: Spec) -> Any:
    """The test split, or its first `data.eval_limit` images when the spec asks for fewer."""
    limit = spec.data.eval_limit
    return data.test.head(limit) if limit else data.test


def evaluate(spec: Spec, model: Any, data: DataSplits, test: Any, batch_size: int = 256) -> dict:
    """Metrics over every image of `test`, batch by batch (bounded memory)."""
    return score(spec, model, data, test, batch_size).result()


def score(
    spec: Spec, model: Any, data: DataSplits, test: Any, batch_size: int = 256
) -> ReconstructionScore:
    """Every image of `test` scored in order: the means (`result()`) and each image's
    scores (`per_image()`)."""
    from caegen.training.pipeline import evaluation_dataset

    data_range = 2.0 if spec.data.range == "symmetric" else 1.0
    scores = ReconstructionScore(
        data_range, train_mean(spec, data), denoising=spec.data.noise is not None
    )
    infer = inference_function(model, spec)
    for x, clean in evaluation_dataset(test, spec, batch_size, seed=spec.train.seed + 1):
        recon = np.asarray(infer(x), dtype=np.float32)
        scores.update(clean.numpy(), recon, x.numpy())
    return scores


def inference_function(model: Any, spec: Spec) -> Any:
    """model(x, training=False) traced once for any batch size."""
    import tensorflow as tf

    signature = tf.TensorSpec((None, *spec.input), tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=(signature,))


def train_mean(spec: Spec, data: DataSplits, files_cap: int = 5000) -> np.ndarray:
    """The mean training image in the spec's range (of the first 5,000 when streamed)."""
    from caegen.training.pipeline import evaluation_dataset, to_range

    if data.train.array is not None:
        return to_range(data.train.array.mean(axis=0, dtype=np.float64), spec.data.range)
    total, count = 0.0, 0
    for _, clean in evaluation_dataset(data.train.head(files_cap), spec, 256, seed=0):
        total = total + clean.numpy().sum(axis=0, dtype=np.float64)
        count += len(clean)
    return total / max(count, 1)
