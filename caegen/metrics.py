"""Reconstruction quality: MSE, MAE, PSNR and SSIM over test images."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, estimate: np.ndarray, data_range: float) -> float:
    """Mean over images of the per-image PSNR in dB (capped at 100 dB for exact copies)."""
    axes = tuple(range(1, reference.ndim))
    mse = np.mean((reference.astype(np.float64) - estimate) ** 2, axis=axes)
    values = 10.0 * np.log10(data_range**2 / np.maximum(mse, 1e-10))
    return float(np.mean(values))


def ssim(reference: np.ndarray, estimate: np.ndarray, data_range: float) -> float | None:
    """Mean SSIM over images; None when images are smaller than SSIM's 7x7 window."""
    from skimage.metrics import structural_similarity

    if min(reference.shape[1:3]) < 7:
        return None
    values = [
        structural_similarity(r, e, data_range=data_range, channel_axis=-1)
        for r, e in zip(reference.astype(np.float64), estimate.astype(np.float64))
    ]
    return float(np.mean(values))


def reconstruction_metrics(
    clean: np.ndarray,
    recon: np.ndarray,
    data_range: float,
    noisy: np.ndarray | None,
    train_mean: np.ndarray,
) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {
        "test_images": len(clean),
        "mse": float(np.mean((clean - recon) ** 2)),
        "mae": float(np.mean(np.abs(clean - recon))),
        "psnr": psnr(clean, recon, data_range),
        "ssim": ssim(clean, recon, data_range),
        # the PSNR of always predicting the mean training image: the floor to beat
        "baseline_mean_image_psnr": psnr(
            clean, np.broadcast_to(train_mean, clean.shape), data_range
        ),
    }
    if noisy is not None:
        out["noisy_input_psnr"] = psnr(clean, noisy, data_range)
        out["noisy_input_ssim"] = ssim(clean, noisy, data_range)
        out["psnr_gain_db"] = out["psnr"] - out["noisy_input_psnr"]  # type: ignore[operator]
    return out
