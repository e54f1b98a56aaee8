"""What a run writes to TensorBoard beyond Keras's own callback: reconstructions as images,
and the run's hyperparameters with its test metrics (the HParams dashboard).

Keras's callback writes `epoch_loss` (with the regularization penalty) and
`epoch_reconstruction_error` (without it) for train and validation, the learning rate and
the model graph. `tensorboard --logdir runs/` then shows every run in one HParams table.
"""

from __future__ import annotations

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


def write_hparams(run_dir: Path, spec: Spec, report: Any, metrics: dict[str, Any]) -> None:
    """One HParams session for the run: its hyperparameters and its final test metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))
    with writer.as_default():
        hp.hparams(hyperparameters(spec, report), trial_id=f"{spec.name}/{run_dir.name}")
        for name in TEST_METRICS:
            value = metrics.get(name)
            if value is not None:
                tf.summary.scalar(f"test/{name}", float(value), step=int(metrics["epochs"]))
    writer.flush()
    writer.close()
