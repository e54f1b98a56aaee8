"""Reconstruction quality: MSE, MAE, PSNR and SSIM, accumulated batch by batch.

`ReconstructionScore` sees every test image once and holds only per-image numbers, so a
whole test split is scored in bounded memory.
"""

from __future__ import annotations

import numpy as np


def psnr_per_image(reference: np.ndarray, estimate: np.ndarray, data_range: float) -> np.ndarray:
    """The PSNR of each image in dB (capped at 100 dB for exact copies)."""
    axes = tuple(range(1, reference.ndim))
    mse = np.mean((reference.astype(np.float64) - estimate) ** 2, axis=axes)
    return 10.0 * np.log10(data_range**2 / np.maximum(mse, 1e-10))


def ssim_per_image(
    reference: np.ndarray, estimate: np.ndarray, data_range: float
) -> np.ndarray | None:
    """SSIM of each image; None when images are smaller than SSIM's 7x7 window."""
    from skimage.metrics import structural_similarity

    if min(reference.shape[1:3]) < 7:
        return None
    return np.array(
        [
            structural_similarity(r, e, data_range=data_range, channel_axis=-1)
            for r, e in zip(reference.astype(np.float64), estimate.astype(np.float64))
        ]
    )


class _Mean:
    """A running mean of per-image values (float64 sums)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, values: np.ndarray | None) -> None:
        if values is not None:
            self.total += float(np.sum(values, dtype=np.float64))
            self.count += len(values)

    def value(self) -> float | None:
        return self.total / self.count if self.count else None


class ReconstructionScore:
    """Test metrics over batches: `update` with each batch, then `result`."""

    def __init__(self, data_range: float, train_mean: np.ndarray, denoising: bool) -> None:
        self.data_range = data_range
        self.train_mean = train_mean.astype(np.float64)
        self.denoising = denoising
        self.images = 0
        self.sq_error = 0.0
        self.abs_error = 0.0
        self.values = 0
        self.psnr, self.ssim, self.baseline = _Mean(), _Mean(), _Mean()
        self.noisy_psnr, self.noisy_ssim = _Mean(), _Mean()

    def update(self, clean: np.ndarray, recon: np.ndarray, noisy: np.ndarray | None) -> None:
        clean64 = clean.astype(np.float64)
        diff = clean64 - recon
        self.images += len(clean)
        self.values += diff.size
        self.sq_error += float(np.sum(diff**2))
        self.abs_error += float(np.sum(np.abs(diff)))
        r = self.data_range
        self.psnr.add(psnr_per_image(clean, recon, r))
        self.ssim.add(ssim_per_image(clean, recon, r))
        mean_image = np.broadcast_to(self.train_mean, clean.shape)
        self.baseline.add(psnr_per_image(clean, mean_image, r))
        if self.denoising and noisy is not None:
            self.noisy_psnr.add(psnr_per_image(clean, noisy, r))
            self.noisy_ssim.add(ssim_per_image(clean, noisy, r))

    def result(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "test_images": self.images,
            # test errors compare reconstructions with targets: no regularization penalty
            "errors_include_penalty": False,
            "mse": self.sq_error / max(self.values, 1),
            "mae": self.abs_error / max(self.values, 1),
            "psnr": self.psnr.value(),
            "ssim": self.ssim.value(),
            # the PSNR of always predicting the mean training image: the floor to beat
            "baseline_mean_image_psnr": self.baseline.value(),
        }
        if self.denoising:
            out["noisy_input_psnr"] = self.noisy_psnr.value()
            out["noisy_input_ssim"] = self.noisy_ssim.value()
            out["psnr_gain_db"] = out["psnr"] - out["noisy_input_psnr"]  # type: ignore[operator]
        return out
