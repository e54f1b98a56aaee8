"""What a run writes to TensorBoard beyond Keras's own callback: reconstructions as images,
and the run's hyperparameters with its test metrics (the HParams dashboard).

Keras's callback writes `epoch_loss` (with the regularization penalty) and
`epoch_reconstruction_error` (without it) for train and validation, the learning rate and
the model graph. Each run also writes the HParams experiment config (the hyperparameters'
domains and the metric columns), so `tensorboard --logdir runs/` shows every run in one
HParams table with the test metrics and validation losses as columns.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import numpy as np

from caegen.spec.schema import Spec

IMAGES = "reconstructions"
SNAPSHOTS = 15
"""A run writes about this many image summaries, whatever its length (small event files)."""


def images_every(epochs: int, configured: int | None) -> int:
    return configured or max(1, epochs // SNAPSHOTS)


def fixed_images(n_test: int, seed: int, k: int = 8) -> list[int]:
    """The test images every run of a spec shows: chosen by seed, not by position."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_test, size=min(k, n_test), replace=False))


def grid(rows: list[np.ndarray], data_range: str) -> np.ndarray:
    """Rows of (k, H, W, C) images as one (1, rows*H, k*W, C') image in [0, 1]."""
    from caegen.training.plots import to_display

    tiles = []
    for images in rows:
        images = to_display(np.asarray(images, dtype=np.float32), data_range)
        channels = images.shape[-1]
        if channels == 2:  # gray + alpha: show the gray
            images = images[..., :1]
        elif channels > 4:
            images = images[..., :3]
        tiles.append(np.concatenate(list(images), axis=1))
    return np.concatenate(tiles, axis=0)[None]


def image_callback(run_dir: Path, spec: Spec, inputs: np.ndarray, clean: np.ndarray) -> Any:
    """Input | reconstruction (denoisers: noisy | denoised | clean) every few epochs."""
    import keras
    import tensorflow as tf

    every = images_every(spec.train.epochs, spec.train.tensorboard_images_every)
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "images"))

    class ImageCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            done = epoch + 1
            if done % every and done != spec.train.epochs:
                return
            recon = np.asarray(self.model(inputs, training=False), dtype=np.float32)
            rows = [inputs, recon] + ([clean] if spec.data.noise is not None else [])
            with writer.as_default():
                tf.summary.image(IMAGES, grid(rows, spec.data.range), step=done)
            writer.flush()

    return ImageCallback()


def hyperparameters(spec: Spec, report: Any) -> dict[str, Any]:
    """The spec's hyperparameters as HParams values (bool, int, float or str)."""
    train = spec.train
    return {
        "spec": spec.name,
        "spec_hash": spec.spec_hash(),
        "params": int(report.params.total),
        "latent_size": int(report.latent_size or 0),
        "loss": train.loss,
        "optimizer": train.optimizer.name,
        "learning_rate": float(train.optimizer.learning_rate),
        "batch_size": int(train.batch_size),
        "weight_decay_l2": float(train.weight_decay.l2),
        "weight_decay_scope": train.weight_decay.scope,
        "noise_stddev": float(spec.data.noise.stddev) if spec.data.noise else 0.0,
        "epochs": int(train.epochs),
        "seed": int(train.seed),
    }


TEST_METRICS = ("mse", "psnr", "ssim")

COUNT_MAX = 2**53
"""No bound in the spec language: the largest integer an interval end (a float64) holds."""


def hparam_domains() -> dict[str, tuple[str, tuple[Any, ...] | None]]:
    """Each hyperparameter's spec path and domain: the values the spec language allows.

    `("int", (low, high))`, `("float", (low, high))`, `("str", values)`, or `("str", None)`
    for free text. The same for every run, so TensorBoard may read any run's config.
    """
    from caegen.core.limits import MAX_BATCH, MAX_EPOCHS, MAX_SEED
    from caegen.spec.layers.base import FLOAT_MAX
    from caegen.spec.optimizers import OptimizerName

    positive = ("float", (0.0, FLOAT_MAX))
    return {
        "spec": ("str", None),
        "spec_hash": ("str", None),
        "params": ("int", (0, COUNT_MAX)),
        "latent_size": ("int", (0, COUNT_MAX)),
        "loss": ("str", ("bce", "mae", "mse")),
        "optimizer": ("str", typing.get_args(OptimizerName)),
        "learning_rate": positive,
        "batch_size": ("int", (1, MAX_BATCH)),
        "weight_decay_l2": positive,
        "weight_decay_scope": ("str", ("all", "encoder")),
        "noise_stddev": positive,
        "epochs": ("int", (1, MAX_EPOCHS)),
        "seed": ("int", (0, MAX_SEED)),
    }


HPARAM_PATHS = {
    "spec": "name",
    "spec_hash": "the resolved spec's hash",
    "params": "parameters of the autoencoder",
    "latent_size": "values in the latent code",
    "loss": "train.loss",
    "optimizer": "train.optimizer.name",
    "learning_rate": "train.optimizer.learning_rate",
    "batch_size": "train.batch_size (global)",
    "weight_decay_l2": "train.weight_decay.l2",
    "weight_decay_scope": "train.weight_decay.scope",
    "noise_stddev": "data.noise.stddev (0: no noise)",
    "epochs": "train.epochs",
    "seed": "train.seed",
}

METRICS = (
    *((f"test/{name}", "", f"test {name.upper()} over the test split") for name in TEST_METRICS),
    ("epoch_loss", "validation", "validation loss, with the regularization penalty"),
    ("epoch_reconstruction_error", "validation", "validation loss without the penalty"),
)
"""(tag, run group, description) of the HParams table's metric columns; the group is the
folder under the run's `tensorboard/` that holds the scalar ("" for the run's own)."""


def experiment_config() -> tuple[list[Any], list[Any]]:
    """The HParams experiment: every hyperparameter with its domain, and the metrics.

    Without it TensorBoard invents the metrics from every scalar tag it finds and leaves
    most of them out of the table.
    """
    from tensorboard.plugins.hparams import api as hp

    hparams = []
    for name, (dtype, domain) in hparam_domains().items():
        if domain is None:
            shape = None
        elif dtype == "int":
            shape = hp.IntInterval(*domain)
        elif dtype == "float":
            shape = hp.RealInterval(*domain)
        else:
            shape = hp.Discrete(list(domain))
        hparams.append(hp.HParam(name, shape, description=HPARAM_PATHS[name]))
    metrics = [
        hp.Metric(tag, group=group or None, display_name=f"{group} {tag}".strip(), description=text)
        for tag, group, text in METRICS
    ]
    return hparams, metrics


def write_hparams(run_dir: Path, spec: Spec, report: Any, metrics: dict[str, Any]) -> None:
    """The run's HParams session (its hyperparameters and final test metrics) and the
    experiment config that makes them the columns of TensorBoard's HParams table."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams, columns = experiment_config()
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=columns)
        hp.hparams(hyperparameters(spec, report), trial_id=f"{spec.name}/{run_dir.name}")
        for name in TEST_METRICS:
            value = metrics.get(name)
            if value is not None:
                tf.summary.scalar(f"test/{name}", float(value), step=int(metrics["epochs"]))
    writer.flush()
    writer.close()
