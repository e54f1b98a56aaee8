"""Data sources on real files: bundled datasets, the Keras cache formats, folders, npz."""

from __future__ import annotations

import numpy as np
import pytest

import caegen
from caegen.core.diagnostics import CaegenError
from caegen.training.data import fit_images, load_data
from tests.conftest import SPECS, write_keras_cache


def spec_with(data: str, input_shape: str = "[16, 16, 1]"):
    return caegen.loads(
        f"name: d\ninput: {input_shape}\nencoder:\n  - {{type: conv2d, filters: 2, "
        f"kernel_size: 3, strides: 2}}\ndecoder:\n  - {{type: conv2d_transpose, filters: "
        f"{input_shape.split(',')[-1].strip(' ]')}, kernel_size: 3, strides: 2}}\ndata: {data}\n"
    )


def test_digits_fit_to_input():
    splits = load_data(caegen.load(SPECS / "quickstart.yaml"))
    assert splits.train.array.shape[1:] == (16, 16, 1)
    assert len(splits.train) + len(splits.test) == 1797
    assert splits.train.array.min() >= 0.0 and splits.train.array.max() <= 1.0
    assert splits.test.labels is not None


def test_digits_padded():
    splits = load_data(spec_with("{source: digits, fit: pad}"))
    image = splits.train.array[0]
    assert image.shape == (16, 16, 1) and image[:4].max() == 0.0  # a 4-pixel zero border


def test_patches_split_by_source_image():
    rgb = load_data(caegen.load(SPECS / "patches_denoise.yaml"))
    assert rgb.train.array.shape[1:] == (32, 32, 3) and len(rgb.train) > 1000
    assert "test: coffee, rocket" in rgb.description
    gray = load_data(spec_with("{source: patches}", "[32, 32, 1]"))
    assert gray.test.array.shape[1:] == (32, 32, 1)


@pytest.mark.parametrize(
    ("source", "shape"),
    [
        ("mnist", "[28, 28, 1]"),
        ("fashion_mnist", "[28, 28, 1]"),
        ("cifar10", "[32, 32, 3]"),
        ("cifar100", "[32, 32, 3]"),
    ],
)
def test_keras_cache_formats(keras_home, source, shape):
    splits = load_data(spec_with(f"{{source: {source}}}", shape))
    assert len(splits.train) == 48 and len(splits.test) == 16
    assert splits.train.labels.shape == (48,)


def test_missing_dataset_names_the_file_to_place(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # no network: a proxy on a closed port refuses at once
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    with pytest.raises(CaegenError) as info:
        load_data(spec_with("{source: mnist}", "[28, 28, 1]"))
    (d,) = info.value.diagnostics
    assert d.code == "E053" and "mnist.npz" in d.hint and str(tmp_path) in d.hint


def test_damaged_cache_is_a_clear_error(tmp_path, monkeypatch):
    write_keras_cache(tmp_path)
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"not a zip")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(CaegenError) as info:
        load_data(spec_with("{source: mnist}", "[28, 28, 1]"))
    assert info.value.diagnostics[0].code == "E053"


def test_folder_lists_recursively_and_splits(tmp_path):
    from skimage import data as skdata
    from skimage.io import imsave

    photo = skdata.astronaut()
    for i in range(12):
        sub = tmp_path / f"set{i % 2}"
        sub.mkdir(exist_ok=True)
        imsave(sub / f"img{i}.png", photo[i * 20 : i * 20 + 40, :40], check_contrast=False)
    (tmp_path / "notes.txt").write_text("ignored")
    splits = load_data(spec_with(f"{{source: folder, path: '{tmp_path}'}}", "[16, 16, 3]"))
    assert len(splits.train) == 10 and len(splits.test) == 2
    assert splits.train.array is None  # streamed, not loaded


def test_folder_errors(tmp_path):
    with pytest.raises(CaegenError, match="not a directory"):
        load_data(spec_with(f"{{source: folder, path: '{tmp_path / 'nope'}'}}"))
    with pytest.raises(CaegenError, match="found 0 image"):
        load_data(spec_with(f"{{source: folder, path: '{tmp_path}'}}"))


def test_folder_files_that_are_not_images_are_named(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.new("L", (8, 8), color=i * 80).save(tmp_path / f"ok{i}.png")
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(CaegenError) as info:
        load_data(spec_with(f"{{source: folder, path: '{tmp_path}'}}"))
    (d,) = info.value.diagnostics
    assert d.code == "E053" and d.message.startswith("2 of 5 file(s)")
    assert "empty.jpg" in d.message and "notes.png" in d.message and "ok0" not in d.message


def test_npz(tmp_path):
    path = tmp_path / "arrays.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (20, 8, 8), dtype=np.uint8),
        x_test=rng.integers(0, 256, (5, 8, 8), dtype=np.uint8),
    )
    splits = load_data(spec_with(f"{{source: npz, path: '{path}'}}"))
    assert splits.train.array.shape == (20, 16, 16, 1) and splits.train.array.max() <= 1.0
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(CaegenError, match=r"has no x_train or x_test \(it holds: x\)"):
        load_data(spec_with(f"{{source: npz, path: '{tmp_path / 'bad.npz'}'}}"))


def _npz_error(tmp_path, x_train: np.ndarray | None, raw: bytes | None = None) -> str:
    path = tmp_path / "user.npz"
    if raw is None:
        np.savez(path, x_train=x_train, x_test=np.zeros((2, 8, 8)))
    else:
        path.write_bytes(raw)
    with pytest.raises(CaegenError) as info:
        load_data(spec_with(f"{{source: npz, path: '{path}'}}"))
    (d,) = info.value.diagnostics
    assert d.code == "E053"
    return d.message


@pytest.mark.parametrize(
    ("x_train", "expected"),
    [
        (np.full((4, 8, 8), np.nan), "holds nan at index (0, 0, 0)"),
        (np.linspace(-1, 1, 256).reshape(4, 8, 8), "holds -1 at index (0, 0, 0), outside"),
        (np.zeros((4, 0, 8)), "has shape (4, 0, 8)"),
        (np.zeros((4, 8, 8), dtype=np.complex64), "complex values"),
        (np.zeros((4, 64)), "has shape (4, 64)"),
        (np.zeros((4, 8, 8, 5)), "has shape (4, 8, 8, 5)"),
        (np.zeros((0, 8, 8)), "has shape (0, 8, 8)"),
        (np.array([["a"] * 8] * 8 * 4).reshape(4, 8, 8), "not numbers"),
    ],
    ids=["nan", "symmetric", "flat", "channels", "empty", "strings", "empty-axis", "complex"],
)
def test_npz_arrays_that_are_not_images_are_refused(tmp_path, x_train, expected):
    assert expected in _npz_error(tmp_path, x_train)


def test_npz_that_is_not_an_archive(tmp_path):
    assert "is not an .npz archive" in _npz_error(tmp_path, np.zeros(1), raw=b"\x93NUMPY...")


def test_fit_images_channels():
    gray = np.random.default_rng(0).random((2, 8, 8))
    assert fit_images(gray, (8, 8, 3), "resize").shape == (2, 8, 8, 3)
    rgb = np.random.default_rng(0).random((2, 8, 8, 3))
    assert fit_images(rgb, (4, 4, 1), "resize").shape == (2, 4, 4, 1)


def test_unavailable_data_leaves_no_run_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    with pytest.raises(CaegenError):
        caegen.train(caegen.load(SPECS / "mnist_2d_latent.yaml"), out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_data_that_cannot_fit_in_memory_is_refused_before_loading(monkeypatch):
    import caegen.training.data

    assert (caegen.training.data.available_memory() or 1) > 0
    monkeypatch.setattr(caegen.training.data, "available_memory", lambda: 2 * 1024**2)
    spec = caegen.load(SPECS / "quickstart.yaml")  # 1,797 digits at 16x16x1: ~5.5 MB
    with pytest.raises(CaegenError) as info:
        load_data(spec)
    (d,) = info.value.diagnostics
    assert d.code == "E053" and "1,797 images of 16x16x1" in d.message and "--limit" in d.hint
    # the limit applies before the images are fitted: 64 train + 359 test images, ~1.3 MB
    splits = load_data(spec, limit=64)
    assert len(splits.train) == 64 and splits.train.array.shape[1:] == (16, 16, 1)


def test_npz_range_is_decided_once_for_both_splits(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.random((8, 8, 8)).astype(np.float32)
    x_train[3, 2, 1] = 1.0001  # one stray value must not rescale the whole array by 255
    x_test = rng.random((4, 8, 8)).astype(np.float32)
    path = tmp_path / "a.npz"
    np.savez(path, x_train=x_train, x_test=x_test)
    message = _npz_error(tmp_path, x_train, raw=path.read_bytes())
    assert "holds 1.0001 at index (3, 2, 1), outside [0, 1]" in message
    # 8-bit data stored as floats: whole numbers in 0..255 in both splits, scaled together
    np.savez(path, x_train=np.full((4, 8, 8), 255.0), x_test=np.full((2, 8, 8), 51.0))
    splits = load_data(spec_with(f"{{source: npz, path: '{path}'}}"))
    assert splits.train.array.max() == 1.0
    np.testing.assert_allclose(splits.test.array.max(), 0.2)


def _zip_with(path, members: dict[str, bytes], compression=None):
    import zipfile

    with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _npy_bytes(x: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


def test_npz_damaged_archives_are_clear_errors(tmp_path):
    import zipfile

    good = _npy_bytes(np.zeros((2, 8, 8), np.uint8))
    # a member that is not .npy
    _zip_with(tmp_path / "user.npz", {"x_train": b"raw", "x_test.npy": good})
    assert "has no x_train" in _npz_error(tmp_path, None, raw=(tmp_path / "user.npz").read_bytes())
    # a corrupt deflate stream
    _zip_with(
        tmp_path / "d.npz", {"x_train.npy": good * 50, "x_test.npy": good}, zipfile.ZIP_DEFLATED
    )
    raw = bytearray((tmp_path / "d.npz").read_bytes())
    raw[120:160] = b"\xff" * 40
    message = _npz_error(tmp_path, None, raw=bytes(raw))
    assert "cannot read x_train" in message or "not an .npz archive" in message
    # a header that declares 1e11 images: refused before anything is allocated
    header = _npy_bytes(np.zeros((1, 8, 8), np.uint8))
    huge = header.replace(b"(1, 8, 8)", b"(100000000000, 8, 8)")
    _zip_with(tmp_path / "h.npz", {"x_train.npy": huge, "x_test.npy": good})
    assert "declares (100000000000, 8, 8)" in _npz_error(
        tmp_path, None, raw=(tmp_path / "h.npz").read_bytes()
    )


def test_npz_path_that_is_a_directory(tmp_path):
    (tmp_path / "data.npz").mkdir()
    with pytest.raises(CaegenError, match="is a directory"):
        load_data(spec_with(f"{{source: npz, path: '{tmp_path / 'data.npz'}'}}"))


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [
        ([0.0, 1.0, 0.0, 1.0], 3, [0.0, 1.0, 0.0]),  # opaque green RGBA -> green, not black
        ([0.0, 1.0, 0.0], 4, [0.0, 1.0, 0.0, 1.0]),  # RGB -> RGBA: opaque
        ([0.5], 3, [0.5, 0.5, 0.5]),
        ([0.5, 1.0], 3, [0.5, 0.5, 0.5]),  # gray + alpha
        ([0.0, 1.0, 0.0, 1.0], 1, [0.7154]),  # luminance
    ],
)
def test_channels_are_converted_not_truncated(have, want, expected):
    image = np.array(have, np.float32).reshape(1, 1, 1, -1)
    out = fit_images(np.repeat(np.repeat(image, 4, 1), 4, 2), (4, 4, want), "resize")
    np.testing.assert_allclose(out[0, 0, 0], expected, atol=1e-4)


def test_pad_crops_larger_images_instead_of_resizing(tmp_path):
    images = np.zeros((1, 30, 40), np.float32)
    images[0, 15, 20] = 1.0  # the centre pixel keeps its scale
    out = fit_images(images, (16, 16, 1), "pad")
    assert out.shape == (1, 16, 16, 1) and out.sum() == 1.0 and out[0, 8, 8, 0] == 1.0
