"""Anomaly-detection data: data.classes, the one-class protocol, the textures generator and
the MVTec AD folder layout, on real images and real files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import caegen
from caegen.core.diagnostics import CaegenError
from caegen.training.data import load_data
from caegen.training.mvtec import read_masks
from tests.conftest import write_keras_cache


def spec_with(data: str, input_shape: str = "[16, 16, 1]"):
    return caegen.loads(
        f"name: d\ninput: {input_shape}\nencoder:\n  - {{type: conv2d, filters: 2, "
        f"kernel_size: 3, strides: 2}}\ndecoder:\n  - {{type: conv2d_transpose, filters: "
        f"{input_shape.split(',')[-1].strip(' ]')}, kernel_size: 3, strides: 2}}\ndata: {data}\n"
    )


def test_classes_keep_exactly_the_listed_labels_in_both_splits():
    everything = load_data(spec_with("{source: digits}"))
    kept = load_data(spec_with("{source: digits, classes: [1, 5, 6]}"))
    for split, whole in ((kept.train, everything.train), (kept.test, everything.test)):
        assert set(np.unique(split.labels)) == {1, 5, 6}
        assert len(split) == int(np.isin(whole.labels, [1, 5, 6]).sum())  # none lost
        # the same images, in the same order
        np.testing.assert_array_equal(split.array, whole.array[np.isin(whole.labels, [1, 5, 6])])
    assert kept.calibration is None and kept.test.truth is None


def test_classes_on_the_keras_cache_formats(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(write_keras_cache(tmp_path, 200, 100)))
    splits = load_data(spec_with("{source: mnist, classes: [3, 7]}", "[28, 28, 1]"))
    assert set(np.unique(splits.train.labels)) == {3, 7}
    assert set(np.unique(splits.test.labels)) == {3, 7}


def test_one_class_trains_on_normal_labels_and_scores_the_whole_test_split():
    everything = load_data(spec_with("{source: digits}"))
    splits = load_data(spec_with("{source: digits, normal: [1], calibration: 0.2}"))
    normals = int((everything.train.labels == 1).sum())
    assert set(np.unique(splits.train.labels)) == {1}
    assert set(np.unique(splits.calibration.labels)) == {1}
    assert len(splits.train) + len(splits.calibration) == normals
    assert len(splits.calibration) == round(normals * 0.2)
    # held-out images are not trained on: no calibration image is also a training image
    train_rows = {image.tobytes() for image in splits.train.array}
    assert not any(image.tobytes() in train_rows for image in splits.calibration.array)
    assert len(splits.test) == len(everything.test)
    truth = splits.test.truth
    np.testing.assert_array_equal(truth.anomalous, everything.test.labels != 1)
    assert truth.kinds[:5] == [str(v) for v in everything.test.labels[:5]]
    assert not truth.has_masks


def test_one_class_within_classes():
    splits = load_data(spec_with("{source: digits, classes: [1, 5, 6], normal: [1]}"))
    assert set(np.unique(splits.test.labels)) == {1, 5, 6}
    assert set(np.array(splits.test.truth.kinds)[splits.test.truth.anomalous]) == {"5", "6"}


@pytest.mark.parametrize(
    "data, message",
    [
        ("{source: patches, classes: [1]}", "has no labels"),
        ("{source: digits, classes: [1, 10]}", "labels are 0..9; classes lists [10]"),
        ("{source: digits, classes: [1], normal: [2]}", "normal lists [2]"),
        ("{source: cifar100, normal: [100]}", "labels are 0..99"),
    ],
)
def test_labels_a_source_cannot_give_are_refused_statically(data, message):
    with pytest.raises(CaegenError) as info:
        spec_with(data)
    d = info.value.diagnostics[0]
    assert d.code == "E012" and message in d.message and d.location.line == 7


def test_textures_are_deterministic_with_masks_for_each_defect():
    spec = spec_with("{source: textures, texture: grass, defect_seed: 3}", "[32, 32, 1]")
    a, b = load_data(spec), load_data(spec)
    np.testing.assert_array_equal(a.test.array, b.test.array)
    np.testing.assert_array_equal(a.test.truth.masks, b.test.truth.masks)
    other = load_data(spec_with("{source: textures, texture: grass}", "[32, 32, 1]"))
    assert not np.array_equal(a.test.truth.masks, other.test.truth.masks)
    truth = a.test.truth
    assert len(a.train) == 589 and len(a.calibration) == 93 and len(a.test) == 217
    assert set(truth.kinds) == {"good", "scratch", "blob", "cutpaste"}
    pixels = truth.masks.sum(axis=(1, 2))
    assert (pixels[truth.anomalous] >= 8).all() and (pixels[~truth.anomalous] == 0).all()
    # a defect changes the image where its mask is, and only there
    clean = load_data(spec_with("{source: textures, texture: grass}", "[32, 32, 1]"))
    i = int(np.flatnonzero(truth.anomalous & ~other.test.truth.anomalous)[0])
    changed = np.abs(a.test.array[i, ..., 0] - clean.test.array[i, ..., 0]) > 0
    assert changed.any() and not (changed & ~truth.masks[i]).any()


def test_textures_splits_share_no_pixels():
    splits = load_data(spec_with("{source: textures}", "[32, 32, 1]"))
    train = {p.tobytes() for p in splits.train.array}
    assert not any(p.tobytes() in train for p in splits.calibration.array)
    assert not any(p.tobytes() in train for p in splits.test.array)


def test_textures_larger_inputs_get_resized_patches_and_masks():
    splits = load_data(spec_with("{source: textures}", "[96, 96, 3]"))
    assert splits.test.array.shape[1:] == (96, 96, 3)
    assert splits.test.truth.masks.shape[1:] == (96, 96)
    assert splits.test.truth.masks.dtype == bool


def _png(path, size=(20, 20), value=128, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def make_mvtec(root, *, orphan=False, missing=False):
    for i in range(5):
        _png(root / "train" / "good" / f"{i:03d}.png", value=100 + i)
    for kind, n in (("good", 2), ("crack", 2), ("hole", 1)):
        for i in range(n):
            _png(root / "test" / kind / f"{i:03d}.png", value=50 + i)
            if kind != "good" and not (missing and kind == "hole"):
                mask = Image.new("L", (20, 20), 0)
                mask.paste(255, (5, 5, 10, 10))
                (root / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
                mask.save(root / "ground_truth" / kind / f"{i:03d}_mask.png")
    if orphan:
        _png(root / "ground_truth" / "crack" / "007_mask.png")
    return root


def test_mvtec_layout_gives_labels_defect_types_and_masks(tmp_path):
    root = make_mvtec(tmp_path / "bottle")
    spec = spec_with(f"{{source: folder, path: '{root}', calibration: 0.2}}")
    splits = load_data(spec)
    assert len(splits.train.files) == 4 and len(splits.calibration.files) == 1
    assert all("/train/good/" in f for f in splits.train.files + splits.calibration.files)
    truth = splits.test.truth
    assert truth.kinds == ["crack", "crack", "good", "good", "hole"]
    assert truth.anomalous.tolist() == [True, True, False, False, True]
    assert [f is not None for f in truth.mask_files] == truth.anomalous.tolist()
    masks = read_masks(splits.test.files, truth.mask_files, (16, 16), "resize")
    assert masks.shape == (5, 16, 16) and masks[0].sum() > 0 and masks[2].sum() == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [({"orphan": True}, "belong to no test image"), ({"missing": True}, "has no mask")],
)
def test_mvtec_masks_that_do_not_match_images_are_refused(tmp_path, kwargs, message):
    root = make_mvtec(tmp_path / "bottle", **kwargs)
    with pytest.raises(CaegenError) as info:
        load_data(spec_with(f"{{source: folder, path: '{root}'}}"))
    assert info.value.diagnostics[0].code == "E096"
    assert message in info.value.diagnostics[0].message


def test_mvtec_mask_of_another_size_than_its_image_is_refused(tmp_path):
    root = make_mvtec(tmp_path / "bottle")
    _png(root / "ground_truth" / "crack" / "000_mask.png", size=(24, 20), value=255)
    splits = load_data(spec_with(f"{{source: folder, path: '{root}'}}"))
    with pytest.raises(CaegenError) as info:
        read_masks(splits.test.files, splits.test.truth.mask_files, (16, 16), "resize")
    d = info.value.diagnostics[0]
    assert d.code == "E096" and "is 24x20 but its image" in d.message
