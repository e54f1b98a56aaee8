"""ONNX export: verified against Keras with onnxruntime, metadata, atomic, no clobbering."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

pytestmark = [pytest.mark.keras, pytest.mark.slow]
pytest.importorskip("tf2onnx")

import caegen  # noqa: E402
from caegen.cli import app  # noqa: E402
from caegen.core.diagnostics import CaegenError  # noqa: E402
from tests.conftest import FIXTURES, SPECS  # noqa: E402

SHIPPED = [p for p in sorted(SPECS.glob("*.yaml")) if caegen.check(caegen.load(p)).ok]
EXPORT_LAYERS = FIXTURES / "export_layers.yaml"
"""Upsampling and transposed convolutions the shipped specs do not have (OpenCV's limits)."""


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return caegen.train(
        caegen.load(SPECS / "quickstart.yaml"), epochs=1, batch_size=64, limit=256, out=out
    ).run_dir


@pytest.mark.parametrize("path", [*SHIPPED, EXPORT_LAYERS], ids=lambda p: p.stem)
def test_every_shipped_spec_exports_and_matches_keras_and_opencv(path, keras_home, tmp_path):
    """onnxruntime matches Keras within 1e-5, and OpenCV 4.x's dnn module loads and runs
    the same file and matches onnxruntime within 1e-4."""
    report = caegen.check(caegen.load(path))
    parts = ["autoencoder", "encoder"] + (["decoder"] if report.decoder_separable else [])
    if report.params.total > 10_000_000:  # the parts are cut the same way on the others;
        parts = ["autoencoder"]  # converting 160 MB of dense weights three times is 30 s
    for part in parts:
        result = caegen.export_onnx(path, tmp_path / f"{part}.onnx", part=part, tolerance=1e-5)
        assert result.max_abs_diff <= 1e-5, (part, result.max_abs_diff)
        assert result.samples > 0 and not result.trained
        assert opencv_difference(result.path) <= 1e-4, part


def opencv_difference(path) -> float:
    """Max |OpenCV - onnxruntime| on seeded inputs, the file loaded by OpenCV's dnn module;
    every input and output's first axis must be `batch`."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    cv2 = pytest.importorskip("cv2")
    assert cv2.__version__.startswith("4."), cv2.__version__
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    assert "Tile" not in ops  # nearest upsampling is a Resize
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch", value.name
    (source,) = model.graph.input
    shape = [3, *(d.dim_value for d in source.type.tensor_type.shape.dim[1:])]
    x = np.random.default_rng(0).uniform(-1.0, 1.0, shape).astype(np.float32)
    (expected,) = ort.InferenceSession(str(path)).run(None, {source.name: x})
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(x)
    got = net.forward()
    return float(np.max(np.abs(got.reshape(expected.shape) - expected)))


def test_conv_transpose_pads_are_made_symmetric_for_opencv(tmp_path):
    """tf2onnx's strided `same` ConvTranspose pads [0, 0, 1, 1] and a Keras output_padding
    (negative pads) become symmetric pads, ONNX's output_padding and a Slice."""
    import onnx
    from onnx import helper

    result = caegen.export_onnx(EXPORT_LAYERS, tmp_path / "a.onnx", tolerance=1e-5)
    nodes = onnx.load(str(result.path)).graph.node
    transposed = [
        {a.name: helper.get_attribute_value(a) for a in n.attribute}
        for n in nodes
        if n.op_type == "ConvTranspose"
    ]
    for attributes in transposed:
        pads = attributes["pads"]
        assert pads[:2] == pads[2:] and min(pads) >= 0, attributes
    assert [a.get("output_padding") for a in transposed] == [None, None, [1, 1], None]
    assert sum(n.op_type == "Slice" for n in nodes) == 1  # the k=3, s=2 one
    assert sum(n.op_type == "Resize" for n in nodes) == 3


def test_trained_run_export_metadata_and_no_clobber(trained_run):
    result = caegen.export_onnx(trained_run)
    assert result.path == trained_run / "autoencoder.onnx" and result.trained
    assert "test images" in result.inputs
    meta = result.metadata
    assert meta["part"] == "autoencoder" and meta["spec_name"] == "quickstart"
    assert meta["input_range"] == "unit" and meta["trained"] == "true"
    before = result.path.read_bytes()
    with pytest.raises(CaegenError) as info:
        caegen.export_onnx(trained_run)
    assert info.value.diagnostics[0].code == "E050"
    assert result.path.read_bytes() == before
    assert caegen.export_onnx(trained_run, force=True).path == result.path
    assert not list(trained_run.glob(".*verify*"))


def test_onnx_runs_without_tensorflow(trained_run, tmp_path):
    path = tmp_path / "enc.onnx"
    caegen.export_onnx(trained_run, path, part="encoder")
    code = f"""
import sys, json
import numpy as np, onnxruntime as ort
sess = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"])
meta = sess.get_modelmeta().custom_metadata_map
x = np.zeros((3, 16, 16, 1), np.float32)
(out,) = sess.run(None, {{"input": x}})
print(json.dumps({{"meta": meta, "shape": list(out.shape),
    "inputs": [i.name for i in sess.get_inputs()], "outputs": [o.name for o in sess.get_outputs()],
    "tf": "tensorflow" in sys.modules or "keras" in sys.modules}}))
"""
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["tf"] is False
    assert out["inputs"] == ["input"] and out["outputs"] == ["latent"]
    assert out["shape"] == [3, 4, 4, 8]
    assert out["meta"]["part"] == "encoder" and json.loads(out["meta"]["input_shape"]) == [
        None,
        16,
        16,
        1,
    ]
    assert out["meta"]["caegen_version"] == caegen.__version__


def test_denoiser_records_noise(tmp_path):
    result = caegen.export_onnx(SPECS / "patches_denoise.yaml", tmp_path / "d.onnx")
    assert result.metadata["noise_stddev"] == "0.3"
    assert any("untrained" in w for w in result.warnings)


def test_export_errors(tmp_path):
    unet = FIXTURES / "unet.yaml"
    codes = {}
    for kwargs in ({"part": "decoder"}, {"opset": 19}, {"part": "bogus"}):
        with pytest.raises(CaegenError) as info:
            caegen.export_onnx(unet, tmp_path / "x.onnx", **kwargs)
        codes[str(kwargs)] = info.value.diagnostics[0].code
    assert set(codes.values()) == {"E056"}
    with pytest.raises(CaegenError) as info:
        caegen.export_onnx(tmp_path / "missing")
    assert info.value.diagnostics[0].code == "E052"
    with pytest.raises(CaegenError) as info:
        caegen.export_onnx(SPECS / "cifar10_method1_bug.yaml", tmp_path / "m1.onnx")
    assert {d.code for d in info.value.diagnostics} == {"E040"}


def test_cli_export(trained_run, tmp_path):
    runner = CliRunner()
    target = tmp_path / "cli.onnx"
    result = runner.invoke(app, ["export", str(trained_run.parent), str(target), "--onnx"])
    assert result.exit_code == 0, result.output
    assert "max |onnx - keras|" in result.output and target.exists()
    again = runner.invoke(app, ["export", str(trained_run.parent), str(target), "--onnx"])
    assert again.exit_code == 1 and "E050" in again.output
    (tmp_path / "file").write_text("mine\n")
    blocked = runner.invoke(
        app, ["export", str(trained_run), str(tmp_path / "file/x.onnx"), "--onnx"]
    )
    assert blocked.exit_code == 1 and "E057" in blocked.output and "is a file" in blocked.output
    missing_format = runner.invoke(app, ["export", str(trained_run)])
    assert missing_format.exit_code == 1 and "--onnx" in missing_format.output


def prepare(raw, preprocessing: dict):
    """A consumer's preprocessing, written from the ONNX metadata alone: raw source images
    (N, h, w[, c]) to the model's input."""
    import numpy as np
    from skimage.transform import resize

    steps = {step["step"]: step for step in preprocessing["steps"]}
    x = raw.astype(np.float32) / steps["scale"]["divide_by"]
    x = x[..., None] if x.ndim == 3 else x
    to = steps["channels"]["to"]
    if x.shape[-1] == 1 and to == 3:
        x = np.repeat(x, 3, axis=-1)
    fit = steps["fit"]
    h, w = fit["size"]
    if fit["method"] == "resize":
        assert fit["implementation"].startswith("skimage.transform.resize(")
        assert "order=1" in fit["implementation"] and "anti_aliasing=True" in fit["implementation"]
        x = np.stack([resize(im, (h, w, to), order=1, anti_aliasing=True) for im in x])
    elif fit["method"] == "pad":
        out = np.zeros((len(x), h, w, to), np.float32)
        top, left = (h - x.shape[1]) // 2, (w - x.shape[2]) // 2
        out[:, top : top + x.shape[1], left : left + x.shape[2]] = x
        x = out
    x = np.clip(x, steps["clip"]["low"], steps["clip"]["high"]).astype(np.float32)
    return x * 2.0 - 1.0 if steps["range"]["formula"] == "2 * x - 1" else x


@pytest.mark.parametrize(
    "data",
    ["{source: digits}", "{source: digits, fit: pad, range: symmetric}"],
)
def test_the_metadata_is_enough_to_prepare_images(data, tmp_path):
    """From the file's `preprocessing` alone (no spec), scikit-learn's raw digits (0..16,
    8x8) become exactly the images caegen trains and evaluates on."""
    import numpy as np
    import onnx
    from sklearn.datasets import load_digits

    from caegen.training.data import load_data
    from caegen.training.pipeline import to_range

    text = (
        "name: prep\ninput: [12, 14, 3]\n"
        "encoder:\n  - {type: conv2d, filters: 2, kernel_size: 3}\n"
        "decoder:\n  - {type: conv2d, filters: 3, kernel_size: 3, activation: tanh}\n"
        f"data: {data}\n"
    )
    spec = caegen.loads(text)
    result = caegen.export_onnx(_write(tmp_path, text), tmp_path / "e.onnx", part="encoder")
    props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    preprocessing = json.loads(props["preprocessing"])
    assert preprocessing == json.loads(result.metadata["preprocessing"])
    assert "output" not in preprocessing  # an encoder's output is a code, not an image

    splits = load_data(spec)
    raw = load_digits().images
    order = np.random.default_rng(0).permutation(len(raw))  # the source's own split
    test = raw[order[: len(splits.test)]]
    expected = to_range(splits.test.array, spec.data.range)
    np.testing.assert_array_equal(prepare(test, preprocessing), expected)


def _write(folder, text: str):
    path = folder / "spec.yaml"
    path.write_text(text)
    return path


def test_preprocessing_records_each_sources_scaling_and_channels():
    from caegen.training.preprocessing import describe

    def steps(data: str, input_: str = "[16, 16, 1]", part: str = "autoencoder") -> dict:
        text = (SPECS / "quickstart.yaml").read_text()
        text = text.replace("input: [16, 16, 1]", f"input: {input_}")
        text = text.replace("data:\n  source: digits\n  range: unit\n", f"data: {data}\n")
        described = describe(caegen.loads(text), part)
        return {step["step"]: step for step in described["steps"]} | {"all": described}

    digits = steps("{source: digits}")
    assert digits["scale"]["divide_by"] == 16.0 and digits["read"]["size"] == [8, 8]
    assert digits["all"]["output"] == {"range": "unit", "to_unit": "y"}
    mnist = steps("{source: mnist, range: symmetric}", "[28, 28, 1]")
    assert mnist["scale"]["divide_by"] == 255.0 and mnist["fit"]["method"] == "none"
    assert mnist["range"]["formula"] == "2 * x - 1"
    cifar_gray = steps("{source: cifar10}", "[32, 32, 1]")
    assert "0.2125 R + 0.7154 G + 0.0721 B" in cifar_gray["channels"]["rule"]
    folder = steps("{source: folder, path: imgs, fit: pad}", "[16, 16, 1]")
    assert folder["fit"]["method"] == "resize"  # every file is resized, whatever `fit` says
    assert "0.2989 R + 0.587 G + 0.114 B" in folder["channels"]["rule"]
    npz = steps("{source: npz, path: x.npz}")
    assert npz["scale"]["divide_by"] is None and "integer arrays: 255" in npz["scale"]["rule"]
    denoiser = steps("{source: digits, noise: {stddev: 0.3}, range: symmetric}")
    assert denoiser["all"]["noise"]["absolute_stddev"] == pytest.approx(0.6)
    decoder = steps("{source: digits}", part="decoder")
    assert decoder["all"]["input"].startswith("latent codes")
