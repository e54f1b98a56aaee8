"""Anomaly metrics against small cases computed by hand, and the anomaly maps against
scikit-image's SSIM and scipy's Gaussian filter."""

from __future__ import annotations

import numpy as np
import pytest

from caegen.score import metrics as m

# three normal and three anomalous images; by hand (anomalous = positive):
# AUROC: 0.9 and 0.7 beat all three normals, 0.5 beats 0.1 and 0.2 -> 8 of 9 pairs
# thresholds high to low: F1 = .5, .8, .667, 6/7 (at 0.5: P 3/4, R 1), .75, .667
# average precision: 1/3 * 1 + 1/3 * 1 + 1/3 * 3/4 = 11/12
ANOMALOUS = np.array([False, False, False, True, True, True])
SCORES = np.array([0.1, 0.2, 0.6, 0.5, 0.9, 0.7])


def test_auroc_auprc_and_f1_max_by_hand():
    assert m.image_auroc(ANOMALOUS, SCORES) == pytest.approx(8 / 9)
    assert m.auprc(ANOMALOUS, SCORES) == pytest.approx(11 / 12)
    f1, at = m.f1_max(ANOMALOUS, SCORES)
    assert f1 == pytest.approx(6 / 7) and at == 0.5


def test_threshold_is_an_observed_quantile_and_states_its_false_positive_rate():
    scores = np.arange(1.0, 101.0)  # 1 .. 100
    t = m.threshold_from_normal(scores, 0.9)
    # position 0.9 * 99 = 89.1 -> the next observed score up, index 90: 91
    assert t.value == 91.0 and t.samples == 100 and t.above == 9
    assert t.false_positive_rate == pytest.approx(0.09)
    assert "9 of them (9.0%) score above it" in t.describe("100 normal images")
    largest = m.threshold_from_normal(np.arange(1.0, 51.0), 0.99)
    assert largest.value == 50.0 and largest.above == 0
    assert "this quantile is the largest" in largest.describe("50 images")


# one image of 1 x 8 pixels: region A = pixels 0-1, region B = pixel 5, the rest normal
MASK = np.array([[[1, 1, 0, 0, 0, 1, 0, 0]]], dtype=bool)
MAP = np.array([[[0.9, 0.3, 0.1, 0.2, 0.3, 0.8, 0.05, 0.4]]])


def test_aupro_on_a_mask_with_two_regions_by_hand():
    # high to low: .9 (A: PRO += 1/2 / 2 regions), .8 (B: += 1/2), .4 (normal: FPR 1/5),
    # then .3 twice, tied (A and a normal pixel): one step to FPR 2/5, PRO 1.
    # (0,0) (0,.25) (0,.75) (.2,.75) (.4,1) ... ; at FPR .3 the PRO is .875 (linear).
    fpr, pro = m.pro_curve(MASK, MAP)
    np.testing.assert_allclose(fpr[:5], [0.0, 0.0, 0.0, 0.2, 0.4])
    np.testing.assert_allclose(pro[:5], [0.0, 0.25, 0.75, 0.75, 1.0])
    area = 0.2 * 0.75 + 0.1 * (0.75 + 0.875) / 2
    assert m.aupro(MASK, MAP) == pytest.approx(area / 0.3)
    # pixel AUROC: 15 pairs; .9 and .8 beat all 5 normals, .3 beats 3 and ties one
    assert m.pixel_auroc(MASK, MAP) == pytest.approx(13.5 / 15)


def test_aupro_regions_count_equally_whatever_their_size():
    # the big region is found first: half the regions are covered before any false positive
    mask = np.zeros((1, 6, 6), bool)
    mask[0, :3, :3] = True  # 9 pixels
    mask[0, 5, 5] = True  # 1 pixel
    scores = np.where(mask, 0.0, 0.5)
    scores[0, :3, :3] = 1.0
    fpr, pro = m.pro_curve(mask, scores)
    assert fpr[1] == 0.0 and pro[1] == pytest.approx(0.5)
    assert m.aupro(mask, scores) == pytest.approx(0.5)
    # diagonal neighbours are one region (8-connectivity, as MVTec AD labels them)
    diagonal = np.zeros((1, 4, 4), bool)
    diagonal[0, 0, 0] = diagonal[0, 1, 1] = True
    fpr, pro = m.pro_curve(diagonal, np.where(diagonal, [[[1.0, 0, 0, 0]] * 4], 0.0))
    assert pro[1] == pytest.approx(0.5)  # one pixel of a two-pixel region


@pytest.mark.keras
@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_map_is_scikit_images_full_ssim_map(channels):
    pytest.importorskip("tensorflow")
    from skimage.metrics import structural_similarity

    from caegen.score.maps import ssim_map

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 24, 20, channels)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    got = ssim_map(x, y, 1.0).numpy()
    for i in range(2):
        _, full = structural_similarity(
            x[i].astype(np.float64),
            y[i].astype(np.float64),
            data_range=1.0,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            full=True,
        )
        np.testing.assert_allclose(got[i], full.mean(axis=-1), atol=2e-5)


@pytest.mark.keras
def test_maps_and_scores_of_each_kind():
    pytest.importorskip("tensorflow")
    from scipy.ndimage import gaussian_filter

    from caegen.score.maps import ScoreKind, anomaly_maps

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (3, 16, 16, 2)).astype(np.float32)
    r = rng.uniform(0, 1, x.shape).astype(np.float32)
    squared = ((x - r) ** 2).mean(axis=-1)
    maps, scores = anomaly_maps(x, r, ScoreKind.make("mse", None, "unit"))
    np.testing.assert_allclose(maps.numpy(), squared, rtol=1e-6)
    np.testing.assert_allclose(scores.numpy(), ((x - r) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    maps, scores = anomaly_maps(x, r, ScoreKind.make("max-residual", 1.5, "unit"))
    smoothed = np.stack([gaussian_filter(s, 1.5, mode="reflect") for s in squared])
    np.testing.assert_allclose(maps.numpy(), smoothed, atol=1e-6)
    np.testing.assert_allclose(scores.numpy(), smoothed.max(axis=(1, 2)), atol=1e-6)
    assert ScoreKind.make("max-residual", None, "unit").smooth == 2.0


def test_windows_larger_than_the_images_are_refused():
    from caegen.core.diagnostics import CaegenError
    from caegen.score.maps import ScoreKind

    ScoreKind.make("ssim", None, "unit").check_size(8, 8)  # radius 5 fits in 8
    with pytest.raises(CaegenError) as info:
        ScoreKind.make("mse", 4.0, "unit").check_size(16, 16)  # radius 16
    assert info.value.diagnostics[0].code == "E096"
