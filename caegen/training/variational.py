"""Training a variational autoencoder: the KL weight per epoch, and the ELBO of a split.

The loss of a VAE is, per image, the reconstruction error summed over its pixels plus
`kl_weight` x KL(N(mean, var) || N(0, 1)) summed over the latent units; both are averaged
over the images of a batch. With `loss: bce` the reconstruction term is the negative
log-likelihood of a Bernoulli decoder, so -(reconstruction + KL) is the evidence lower
bound (ELBO) in nats per image; with `mse` or `mae` caegen reports the same sum, which is
a bound only up to the decoder's (unmodelled) variance.
"""

from __future__ import annotations

from typing import Any


def kl_weight_at(epoch: int, weight: float, warmup_epochs: int) -> float:
    """The KL weight during 1-based `epoch`: linear from weight/warmup up to weight."""
    if warmup_epochs <= 0:
        return weight
    return weight * min(1.0, epoch / warmup_epochs)


def set_kl_weight(model: Any, value: float) -> None:
    for layer in model.layers:
        if type(layer).__name__ == "Sampling":
            layer.kl_weight.assign(value)


def kl_schedule(weight: float, warmup_epochs: int) -> Any:
    import keras

    class KLSchedule(keras.callbacks.Callback):
        """Set the KL weight at each epoch's start: a function of the epoch alone, so a
        resumed run uses the weight the uninterrupted one used."""

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            set_kl_weight(self.model, kl_weight_at(epoch + 1, weight, warmup_epochs))

    return KLSchedule()


def test_elbo(model: Any, dataset: Any, pixels: int) -> dict[str, float]:
    """-(reconstruction summed over pixels + KL) per image over a split, in nats for bce.

    The reconstruction term is taken at the mean code (inference mode), a deterministic
    estimate; the KL term is exact for the encoder's Gaussian.
    """
    out = model.evaluate(dataset, return_dict=True, verbose=0)
    reconstruction = float(out["reconstruction_error"]) * pixels
    kl = float(out["kl"])
    return {
        "elbo": -(reconstruction + kl),
        "reconstruction_nats": reconstruction,
        "kl": kl,
    }
