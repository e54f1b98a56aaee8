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


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return caegen.train(
        caegen.load(SPECS / "quickstart.yaml"), epochs=1, batch_size=64, limit=256, out=out
    ).run_dir


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_spec_exports_and_matches_keras(path, keras_home, tmp_path):
    report = caegen.check(caegen.load(path))
    parts = ["autoencoder", "encoder"] + (["decoder"] if report.decoder_separable else [])
    if report.params.total > 10_000_000:  # the parts are cut the same way on the others;
        parts = ["autoencoder"]  # converting 160 MB of dense weights three times is 30 s
    for part in parts:
        result = caegen.export_onnx(path, tmp_path / f"{part}.onnx", part=part, tolerance=1e-5)
        assert result.max_abs_diff <= 1e-5, (part, result.max_abs_diff)
        assert result.samples > 0 and not result.trained


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
