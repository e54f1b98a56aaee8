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


def mse_per_image(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    axes = tuple(range(1, reference.ndim))
    return np.mean((reference.astype(np.float64) - estimate) ** 2, axis=axes)


class _Column:
    """One score per image, batch after batch (float64; NaN where it was not computed)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def add(self, values: np.ndarray | None, n: int) -> None:
        self.parts.append(np.full(n, np.nan) if values is None else values.astype(np.float64))

    def values(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0)

    def mean(self) -> float | None:
        values = self.values()
        return float(np.mean(values)) if len(values) and not np.isnan(values).any() else None


class ReconstructionScore:
    """Test metrics over batches: `update` with each batch (in test-split order), then
    `result` for the means and `per_image` for each image's scores (per_image.csv)."""

    def __init__(self, data_range: float, train_mean: np.ndarray, denoising: bool) -> None:
        self.data_range = data_range
        self.train_mean = train_mean.astype(np.float64)
        self.denoising = denoising
        self.images = 0
        self.abs_error = 0.0
        self.values = 0
        self.columns = {
            name: _Column()
            for name in ("mse", "psnr", "ssim", "baseline", "noisy_mse", "noisy_psnr", "noisy_ssim")
        }

    def update(self, clean: np.ndarray, recon: np.ndarray, noisy: np.ndarray | None) -> None:
        n, r, add = len(clean), self.data_range, self._add
        self.images += n
        self.values += clean.size
        self.abs_error += float(np.sum(np.abs(clean.astype(np.float64) - recon)))
        add("mse", mse_per_image(clean, recon), n)
        add("psnr", psnr_per_image(clean, recon, r), n)
        add("ssim", ssim_per_image(clean, recon, r), n)
        mean_image = np.broadcast_to(self.train_mean, clean.shape)
        add("baseline", psnr_per_image(clean, mean_image, r), n)
        if self.denoising and noisy is not None:
            add("noisy_mse", mse_per_image(clean, noisy), n)
            add("noisy_psnr", psnr_per_image(clean, noisy, r), n)
            add("noisy_ssim", ssim_per_image(clean, noisy, r), n)

    def _add(self, name: str, values: np.ndarray | None, n: int) -> None:
        self.columns[name].add(values, n)

    def per_image(self) -> dict[str, np.ndarray]:
        """Each scored image's index in the test split and its scores (per_image.csv's
        columns); the means of these columns are `result`'s mse, psnr and ssim."""
        names = ["mse", "psnr", "ssim"]
        if self.denoising:
            names += ["noisy_mse", "noisy_psnr", "noisy_ssim"]
        return {"image": np.arange(self.images), **{n: self.columns[n].values() for n in names}}

    def result(self) -> dict[str, float | int | None]:
        mean = {name: column.mean() for name, column in self.columns.items()}
        out: dict[str, float | int | None] = {
            "test_images": self.images,
            # test errors compare reconstructions with targets: no regularization penalty
            "errors_include_penalty": False,
            "mse": mean["mse"],
            "mae": self.abs_error / max(self.values, 1),
            "psnr": mean["psnr"],
            "ssim": mean["ssim"],
            # the PSNR of always predicting the mean training image: the floor to beat
            "baseline_mean_image_psnr": mean["baseline"],
        }
        if self.denoising:
            out["noisy_input_mse"] = mean["noisy_mse"]
            out["noisy_input_psnr"] = mean["noisy_psnr"]
            out["noisy_input_ssim"] = mean["noisy_ssim"]
            out["psnr_gain_db"] = out["psnr"] - out["noisy_input_psnr"]  # type: ignore[operator]
        return out
