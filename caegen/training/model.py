"""The autoencoder as training compiles it: its loss, its reconstruction metric, its
optimizer, and the per-epoch reseeding of its random layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from caegen.compile.compiler import Report
from caegen.spec.optimizers import make_optimizer
from caegen.spec.schema import Spec

if TYPE_CHECKING:
    from caegen.training.distribute import Resolved


def make_loss(spec: Spec) -> Any:
    import keras

    if spec.train.loss == "ssim":
        from caegen.training.losses import SSIMLoss, data_range_width

        return SSIMLoss(data_range_width(spec.data.range))
    return {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "bce": keras.losses.BinaryCrossentropy,
    }[spec.train.loss]()


def reconstruction_metric(spec: Spec) -> Any:
    """The loss function as a metric: the reconstruction error without any penalty."""
    import keras

    if spec.train.loss == "ssim":
        from caegen.training.losses import SSIMError, data_range_width

        return SSIMError(data_range_width(spec.data.range))
    return {
        "mse": keras.metrics.MeanSquaredError,
        "mae": keras.metrics.MeanAbsoluteError,
        "bce": keras.metrics.BinaryCrossentropy,
    }[spec.train.loss](name="reconstruction_error")


def vae_loss_weight(spec: Spec, report: Report) -> float | None:
    """A VAE's reconstruction term is summed over the pixels of each image (None: other
    autoencoders average it)."""
    from caegen.compile.passes.variational import is_variational

    return float(np.prod(spec.input)) if is_variational(report.graph) else None


def compiled_model(spec: Spec, report: Report, resolved: Resolved, steps: int) -> Any:
    """The autoencoder, built and compiled as the spec says (in the current strategy)."""
    from caegen.emit.keras_model import build

    cfg = spec.train
    model = build(spec, report=report, float32_output=resolved.mixed_precision).autoencoder
    model.compile(
        optimizer=make_optimizer(cfg.optimizer, cfg.lr_schedule, cfg.epochs, steps),
        loss=make_loss(spec),
        loss_weights=vae_loss_weight(spec, report),
        metrics=[reconstruction_metric(spec)],
        jit_compile=resolved.jit_compile,
    )
    return model


def reseed_layers(model: Any, seed: int, epoch: int) -> None:
    """Key the random layers (dropout, gaussian_noise) by (seed, layer, epoch).

    Keras layers draw from a SeedGenerator whose state is a [seed, counter] variable that
    a saved model does not keep; setting it at each epoch start makes the masks a function
    of (seed, layer, epoch, step) alone, so a resumed run draws what the original drew.
    """
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for index, state in enumerate(states):
        state.assign(np.array([seed + 7919 * index, epoch << 20], dtype=state.dtype))


def weights_sha256(model: Any) -> str:
    import hashlib

    digest = hashlib.sha256()
    for value in model.get_weights():
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()
