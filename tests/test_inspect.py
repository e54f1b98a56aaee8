"""`caegen inspect`: the figures' content, checked against the layers' weights and against Keras
sub-models cut at the same points, on real models saved as finished runs (untrained, seeded
weights: what is drawn does not depend on training), real PNG files and TensorBoard events."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import caegen
from caegen.cli import app
from caegen.core.diagnostics import CaegenError
from caegen.training.rundir import FINISHED, Run
from tests.conftest import SPECS

runner = CliRunner()
ZOOM_3x3 = math.ceil(24 / 3)  # documented: small kernels are enlarged to about 24 pixels
GAP = 2

GRAPH = """
name: graph
input: [32, 32, 3]
encoder:
  - {type: conv2d, name: c1, filters: 4, kernel_size: 3, activation: relu}
  - {type: separable_conv2d, name: sep, filters: 6, kernel_size: 3, depth_multiplier: 2,
     strides: 2, activation: elu}
  - {type: depthwise_conv2d, name: dw, kernel_size: 3, depth_multiplier: 2}
decoder:
  - {type: conv2d_transpose, name: up, filters: 4, kernel_size: 3, strides: 2, activation: relu}
  - {type: concatenate, name: skip, inputs: [up, c1], ignore: [W105, I108]}
  - {type: conv2d, name: out, filters: 3, kernel_size: 3, activation: sigmoid}
data: {source: patches}
"""

FUSED = """
name: fused
input: [12, 12, 1]
encoder:
  - {type: conv2d, name: c, filters: 6, kernel_size: 3, activation: relu}
  - {type: max_pool2d, name: pool, pool_size: 2}
decoder:
  - {type: upsampling2d, name: upsample, size: 2}
  - {type: conv2d, name: out, filters: 1, kernel_size: 3, activation: sigmoid}
data: {source: digits}
"""
# the same model with the relu as a layer of its own: Keras sub-models can be cut there
SPLIT = FUSED.replace("name: fused", "name: split").replace(
    "kernel_size: 3, activation: relu}",
    "kernel_size: 3}\n  - {type: activation, name: c_relu, activation: relu}",
)


def finished_run(spec, out, seed: int = 0, factor: float = 1.0) -> Run:
    """A finished run holding `spec`'s autoencoder with seeded initial weights (x `factor`)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = caegen.build(spec).autoencoder
    model.set_weights([w * factor for w in model.get_weights()])
    run = Run.create(out, spec)
    run.save_models({"autoencoder": model})
    # scaled weights score otherwise: compare counts a run with its spec, seed and scores once
    psnr = 10.0 + seed - (1.0 - factor)
    run.write_metrics({"epochs": 1, "psnr": psnr, "ssim": 0.5, "mse": 0.1})
    run.release()
    run.mark(FINISHED, 1)
    return run


def cut(model, name: str, x: np.ndarray) -> np.ndarray:
    """The output of layer `name` for `x`: a Keras sub-model cut there."""
    import keras

    probe = keras.Model(model.inputs[0], model.get_layer(name).output)
    return np.asarray(probe(x, training=False))[0]


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int64)


def block(pixels: np.ndarray, r: int, c: int, kh: int, kw: int, zoom: int) -> np.ndarray:
    """Tile (r, c) of a filter grid PNG, one pixel per weight (checking each zoom x zoom
    block is uniform)."""
    top, left = GAP + r * (kh * zoom + GAP), GAP + c * (kw * zoom + GAP)
    tile = pixels[top : top + kh * zoom, left : left + kw * zoom]
    weights = tile[::zoom, ::zoom]
    np.testing.assert_array_equal(np.repeat(np.repeat(weights, zoom, 0), zoom, 1), tile)
    return weights


def drawn(weights: np.ndarray, scale: float) -> np.ndarray:
    """Weights as the documented scale draws them, in 8-bit values."""
    return np.round((0.5 + 0.5 * weights / scale) * 255)


def load(run: Run):
    return run.load_model("autoencoder")


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory):
    return finished_run(caegen.loads(GRAPH), tmp_path_factory.mktemp("graph"))


@pytest.fixture(scope="module")
def graph_views(graph_run, tmp_path_factory):
    from caegen.inspect.inspector import inspect

    out = tmp_path_factory.mktemp("graph-figures")
    layers = ["c1", "sep", "dw", "up", "skip", "out"]
    return inspect(graph_run.path, layers=layers, out=out), out


# --- the filter grid: its pixels are the weights ------------------------------------------
@pytest.mark.keras
def test_first_layer_grid_is_one_rgb_tile_per_filter(graph_run, graph_views):
    result, out = graph_views
    kernel = np.asarray(load(graph_run).get_layer("c1").kernel)  # (3, 3, 3 colours, 4 filters)
    scale = np.abs(kernel).max()
    pixels = png(out / "c1.filters.png")
    cols = math.ceil(math.sqrt(4))
    for f in range(4):
        r, c = divmod(f, cols)
        tile = block(pixels, r, c, 3, 3, ZOOM_3x3)
        np.testing.assert_allclose(tile, drawn(kernel[..., f], scale), atol=0.5)
    assert result.views[0].grid.caption == "4 filters over the input's RGB channels"


@pytest.mark.keras
def test_last_layer_grid_is_what_each_input_paints_in_colour(graph_run, graph_views):
    _, out = graph_views
    kernel = np.asarray(load(graph_run).get_layer("out").kernel)  # (3, 3, 8 inputs, 3 colours)
    scale = np.abs(kernel).max()
    pixels = png(out / "out.filters.png")
    cols = math.ceil(math.sqrt(8))
    for i in range(8):
        r, c = divmod(i, cols)
        np.testing.assert_allclose(
            block(pixels, r, c, 3, 3, ZOOM_3x3), drawn(kernel[:, :, i, :], scale), atol=0.5
        )


@pytest.mark.keras
def test_transposed_kernel_is_drawn_one_row_per_output_channel(graph_run, graph_views):
    result, out = graph_views
    kernel = np.asarray(load(graph_run).get_layer("up").kernel)  # Keras: (3, 3, 4 out, 12 in)
    scale = np.abs(kernel).max()
    pixels = png(out / "up.filters.png")
    for o in range(4):
        for i in range(12):
            gray = block(pixels, o, i, 3, 3, ZOOM_3x3)
            assert (gray == gray[..., :1]).all()
            np.testing.assert_allclose(gray[..., 0], drawn(kernel[:, :, o, i], scale), atol=0.5)
    up = next(v for v in result.views if v.name == "up")
    np.testing.assert_array_equal(up.grid.kernel, kernel.transpose(0, 1, 3, 2))
    tiles = np.load(out / "up.npz")["tiles"]  # (4 out, 12 in, 3, 3, 1): the weights drawn
    np.testing.assert_array_equal(tiles[..., 0], kernel.transpose(2, 3, 0, 1))


@pytest.mark.keras
def test_depthwise_grid_is_one_row_per_input_channel(graph_run, graph_views):
    _, out = graph_views
    kernel = np.asarray(load(graph_run).get_layer("dw").kernel)  # (3, 3, 6 in, 2 multipliers)
    scale = np.abs(kernel).max()
    pixels = png(out / "dw.filters.png")
    for ch in range(6):
        for m in range(2):
            gray = block(pixels, ch, m, 3, 3, ZOOM_3x3)[..., 0]
            np.testing.assert_allclose(gray, drawn(kernel[:, :, ch, m], scale), atol=0.5)


@pytest.mark.keras
def test_separable_kernel_is_the_convolution_it_equals(graph_run, graph_views):
    import tensorflow as tf

    result, out = graph_views
    model = load(graph_run)
    x = np.load(out / "sep.npz")["image"][None]
    layer_in = cut(model, "c1", x)[None]
    kernel = next(v for v in result.views if v.name == "sep").grid.kernel  # (3, 3, 4, 6)
    bias = np.asarray(model.get_layer("sep").bias)
    as_conv = tf.nn.conv2d(layer_in, kernel.astype(np.float32), strides=2, padding="SAME") + bias
    before = np.load(out / "sep.npz")["before"]
    np.testing.assert_allclose(np.asarray(as_conv)[0], before, atol=1e-5)
    after_elu = np.where(before > 0, before, np.expm1(np.minimum(before, 0)))
    np.testing.assert_allclose(np.load(out / "sep.npz")["after"], after_elu, atol=1e-5)


# --- the maps: Keras sub-models cut at the same points -------------------------------------
@pytest.mark.keras
def test_maps_equal_submodels_cut_before_and_after_a_fused_relu(tmp_path):
    from caegen.emit.keras_model import build
    from caegen.inspect.inspector import inspect

    fused = finished_run(caegen.loads(FUSED), tmp_path / "runs")
    result = inspect(fused.path, layers=["c", "pool"], out=tmp_path / "a")
    split = build(caegen.loads(SPLIT)).autoencoder
    for name in ("c", "out"):
        split.get_layer(name).set_weights(load(fused).get_layer(name).get_weights())
    numbers = np.load(tmp_path / "a" / "c.npz")
    x = numbers["image"][None]
    np.testing.assert_allclose(numbers["before"], cut(split, "c", x), atol=1e-6)
    np.testing.assert_allclose(numbers["after"], cut(split, "c_relu", x), atol=1e-6)
    assert numbers["before"].min() < 0 and numbers["after"].min() == 0  # relu: no negatives
    c = result.views[0]
    assert c.maps.zero_share == pytest.approx(np.mean(numbers["after"] == 0))
    assert c.maps.zero_share > 0.05
    pool = result.views[1]  # a layer without activation: its input and output
    assert (pool.maps.before_label, pool.maps.after_label) == ("input", "output")
    np.testing.assert_array_equal(pool.maps.before, numbers["after"])
    # the split spec's activation layer shows its input and output
    split_run = Run.create(tmp_path / "runs", caegen.loads(SPLIT))
    split_run.save_models({"autoencoder": split})
    split_run.write_metrics({})
    split_run.release()
    split_run.mark(FINISHED, 1)
    relu = inspect(split_run.path, layers=["c_relu"], out=tmp_path / "b").views[0]
    np.testing.assert_allclose(relu.maps.before, numbers["before"], atol=1e-6)
    np.testing.assert_allclose(relu.maps.after, numbers["after"], atol=1e-6)
    assert relu.grid is None and relu.maps.before_label == "before relu"


@pytest.mark.keras
def test_maps_of_a_multi_input_graph_equal_its_submodels(graph_run, graph_views):
    result, out = graph_views
    model = load(graph_run)
    x = np.load(out / "c1.npz")["image"][None]
    for name in ("c1", "sep", "dw", "up", "skip", "out"):
        np.testing.assert_allclose(np.load(out / f"{name}.npz")["after"], cut(model, name, x))
    skip = next(v for v in result.views if v.name == "skip")
    assert skip.maps.before is None and skip.grid is None  # a merge: no single input
    np.testing.assert_array_equal(  # the merge's output: both of its inputs
        skip.maps.after, np.concatenate([cut(model, "up", x), cut(model, "c1", x)], axis=-1)
    )
    assert np.load(out / "c1.npz")["after"].min() >= 0
    assert (np.load(out / "up.npz")["after"] >= 0).all()


@pytest.mark.keras
def test_a_mixed_precision_model_is_probed_in_its_own_float16(tmp_path):
    import keras

    from caegen.inspect.inspector import inspect

    spec = caegen.loads(FUSED)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = caegen.build(spec, float32_output=True).autoencoder
    finally:
        keras.mixed_precision.set_global_policy("float32")
    run = Run.create(tmp_path / "runs", spec)
    run.save_models({"autoencoder": model})
    run.write_metrics({})
    run.release()
    run.mark(FINISHED, 1)
    (c,) = inspect(run.path, layers=["c"], out=tmp_path / "out").views
    loaded = load(run)
    assert loaded.get_layer("c").compute_dtype == "float16"
    x = np.load(tmp_path / "out" / "c.npz")["image"][None]
    np.testing.assert_array_equal(c.maps.after, cut(loaded, "c", x))
    np.testing.assert_array_equal(np.maximum(c.maps.before, 0), c.maps.after)


@pytest.mark.keras
def test_a_vae_shows_its_mean_code_and_its_dense_weights_as_maps(tmp_path):
    from caegen.inspect.inspector import inspect

    spec = caegen.load(SPECS / "digits_cvae.yaml")
    run = finished_run(spec, tmp_path / "runs")
    result = inspect(run.path, layers=["z_mean", "z", "decoder.0"], out=tmp_path / "out")
    views = {v.name: v for v in result.views}
    # inference: the sampling layer gives the mean
    np.testing.assert_array_equal(views["z"].maps.after, views["z_mean"].maps.after)
    model = load(run)
    # z_mean reads the flattened 6x6x64 map: each unit's weights are a filter over that map
    x = np.load(tmp_path / "out" / "z_mean.npz")["image"][None]
    feature_map = cut(model, "encoder.1", x)
    z_kernel = views["z_mean"].grid.kernel  # (6, 6, 64, 2)
    bias = np.asarray(model.get_layer("z_mean").bias)
    np.testing.assert_allclose(
        np.einsum("hwc,hwcu->u", feature_map, z_kernel) + bias, cut(model, "z_mean", x), rtol=1e-4
    )
    # decoder.0 feeds a reshape to 7x7x32: each code unit's weights are a 7x7x32 map
    code = cut(model, "z", x)
    painted = np.einsum("i,hwic->hwc", code, views["decoder.0"].grid.kernel)
    linear = painted + np.asarray(model.get_layer("decoder.0").bias).reshape(7, 7, 32)
    np.testing.assert_allclose(
        np.maximum(linear, 0).reshape(-1), cut(model, "decoder.0", x), rtol=1e-4, atol=1e-7
    )


DENSE_ONLY = {  # no convolution: the dense layers whose weights are images are drawn
    "cifar10_dense_1024.yaml": ["encoder.1", "decoder.0"],
    "cifar10_dense_deep.yaml": ["encoder.1", "decoder.2"],
}


# --- every shipped spec --------------------------------------------------------------------
@pytest.mark.keras
@pytest.mark.slow
def test_every_shipped_spec_can_be_inspected(keras_home, tmp_path):
    from caegen.compile.compiler import check
    from caegen.inspect.inspector import inspect
    from caegen.inspect.layers import CONVOLUTIONS, select

    refused = []
    for path in sorted(SPECS.glob("*.yaml")):
        spec = caegen.load(path)
        report = check(spec)
        if not report.ok:
            refused.append(path.name)
            continue
        convs = [n.name for n in report.graph.live_layers() if n.type in CONVOLUTIONS]
        defaults = [t.name for t in select(report.graph, None)]
        assert defaults == (convs or DENSE_ONLY[path.name]), path.name
        # drawn: the first and the last layer of the default selection (every layer of every
        # spec would take a minute; the other tests draw each kind of layer)
        ends = list(dict.fromkeys([defaults[0], defaults[-1]]))
        run = finished_run(spec, tmp_path / "runs")
        result = inspect(run.path, layers=ends, out=tmp_path / spec.name)
        model = load(run)
        x = np.load(tmp_path / spec.name / f"{ends[0]}.npz")["image"][None]
        for view in result.views:
            np.testing.assert_allclose(view.maps.after, cut(model, view.name, x), atol=1e-6)
            figure = png(tmp_path / spec.name / f"{view.name}.png")
            assert figure.shape[1] > 600 and figure.std() > 20, (path.name, view.name)
            assert view.grid is not None
    assert refused == ["cifar10_method1_bug.yaml"]  # dead branches: Keras would drop layers


# --- mistakes: coded, before any work -------------------------------------------------------
@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return finished_run(caegen.loads(FUSED), tmp_path_factory.mktemp("small"))


def run_cli(*args: str):
    return runner.invoke(app, ["inspect", *args])


@pytest.mark.keras
def test_a_wrong_layer_name_is_answered_with_the_close_one(small_run, tmp_path):
    result = run_cli(str(small_run.path), "--layers", "cc", "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "E090" in result.output and "did you mean `c`?" in result.output
    assert not (tmp_path / "o").exists()


def test_a_dense_layer_without_image_shaped_weights_is_refused_statically():
    from caegen.inspect.layers import select

    spec = caegen.loads(
        "name: d\ninput: [8, 8, 1]\nencoder:\n  - {type: flatten}\n"
        "  - {type: dense, units: 16, activation: relu}\n  - {type: dense, units: 4}\n"
        "decoder:\n  - {type: dense, units: 64, activation: sigmoid}\n"
        "  - {type: reshape, target_shape: [8, 8, 1]}\n"
    )
    graph = caegen.check(spec).graph
    with pytest.raises(CaegenError) as info:
        select(graph, ["encoder.2"])
    (d,) = info.value.diagnostics
    assert d.code == "E091" and "16 -> 4" in d.message
    layouts = {
        t.name: (t.weights.layout, t.weights.dense)
        for t in select(graph, ["encoder.1", "decoder.0"])
    }
    assert layouts == {
        "encoder.1": ("image_in", "flattened"),
        "decoder.0": ("image_out", "reshaped"),
    }


def test_a_dead_layer_is_not_in_the_model_to_inspect():
    from caegen.inspect.layers import select

    graph = caegen.check(caegen.load(SPECS / "cifar10_method1_bug.yaml")).graph
    with pytest.raises(CaegenError) as info:
        select(graph, ["bnorm1_1"])
    assert info.value.diagnostics[0].code == "E090"
    assert "dead branch" in info.value.diagnostics[0].message


@pytest.mark.keras
def test_the_image_must_exist(small_run, tmp_path):
    bad = run_cli(str(small_run.path), "--image", "100000", "--out", str(tmp_path / "o"))
    assert bad.exit_code == 1 and "E092" in bad.output and "has 359 images" in bad.output
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    bad = run_cli(str(small_run.path), "--input", str(text), "--out", str(tmp_path / "o"))
    assert bad.exit_code == 1 and "E092" in bad.output and "Traceback" not in bad.output
    both = run_cli(str(small_run.path), "--input", str(text), "--image", "1")
    assert both.exit_code == 2


@pytest.mark.keras
def test_an_image_file_is_fed_at_the_input_size_in_the_data_range(small_run, tmp_path):
    from caegen.inspect.inspector import inspect

    picture = tmp_path / "picture.png"
    ramp = np.tile(np.linspace(0, 255, 24, dtype=np.uint8), (24, 1))
    Image.fromarray(ramp, "L").save(picture)
    result = inspect(small_run.path, input_file=picture, layers=["c"], out=tmp_path / "o")
    image = np.load(tmp_path / "o" / "c.npz")["image"]
    assert image.shape == (12, 12, 1) and result.image_label == "picture.png"
    assert image[0, 0, 0] < 0.1 and image[0, -1, 0] > 0.9 and (np.diff(image[0, :, 0]) > 0).all()


@pytest.mark.keras
def test_nothing_is_overwritten_without_force_and_the_default_folder_is_outside_the_run(
    small_run, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    first = run_cli(str(small_run.path), "--layers", "c")
    assert first.exit_code == 0, first.output
    folder = tmp_path / "inspect" / "fused" / small_run.path.name
    assert sorted(p.name for p in folder.iterdir()) == ["c.filters.png", "c.npz", "c.png"]
    assert "after relu" in first.output and "% zero" in first.output
    before = (folder / "c.png").read_bytes()
    again = run_cli(str(small_run.path), "--layers", "c")
    assert again.exit_code == 1 and "E050" in again.output
    assert (folder / "c.png").read_bytes() == before
    wrong = run_cli(str(small_run.path), "--layers", "c", "--image", "100000")
    assert "E092" in wrong.output and "E050" not in wrong.output  # the image is said first
    assert run_cli(str(small_run.path), "--layers", "c", "--force").exit_code == 0


@pytest.mark.keras
def test_unfinished_and_damaged_runs_are_refused(tmp_path):
    spec = caegen.loads(FUSED)
    unfinished = Run.create(tmp_path / "runs", spec)
    unfinished.release()
    result = run_cli(str(unfinished.path))
    assert result.exit_code == 1 and "E052" in result.output
    damaged = finished_run(spec, tmp_path / "runs2")
    (damaged.path / "model.keras").write_bytes(b"PK\x03\x04 not a zip")
    result = run_cli(str(damaged.path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "E059" in result.output


# --- TensorBoard and compare ----------------------------------------------------------------
@pytest.mark.keras
def test_tensorboard_holds_the_figures_and_the_exact_grid(small_run):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from caegen.inspect.figures import grid_png
    from caegen.inspect.inspector import inspect

    result = inspect(small_run.path, layers=["c", "pool"], tensorboard=True)
    assert result.written == [] and result.tensorboard == small_run.path / "tensorboard/inspect"
    acc = EventAccumulator(str(result.tensorboard), size_guidance={"tensors": 0})
    acc.Reload()
    assert set(acc.Tags()["tensors"]) == {"inspect/c", "inspect/pool", "filters/c"}
    (event,) = acc.Tensors("filters/c")
    assert event.step == 1  # the run's last epoch
    logged = np.asarray(Image.open(io.BytesIO(tf.make_ndarray(event.tensor_proto)[2])))
    expected = np.asarray(Image.open(io.BytesIO(grid_png(result.views[0].grid))))
    np.testing.assert_array_equal(logged, expected)
    again = run_cli(str(small_run.path), "--layers", "c", "--tensorboard")
    assert again.exit_code == 1 and "E050" in again.output
    assert run_cli(str(small_run.path), "--layers", "c", "--tensorboard", "--force").exit_code == 0
    acc = EventAccumulator(str(result.tensorboard), size_guidance={"tensors": 0})
    acc.Reload()
    assert len(acc.Tensors("filters/c")) == 1


@pytest.mark.keras
@pytest.mark.slow
def test_train_draws_the_layers_into_tensorboard_at_the_end(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = tmp_path / "fused.yaml"
    spec.write_text(FUSED)
    args = ["train", str(spec), "--epochs", "1", "--limit", "64", "--out", str(tmp_path / "r")]
    result = runner.invoke(app, [*args, "--tensorboard-filters"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "r" / "fused").iterdir()
    acc = EventAccumulator(str(run_dir / "tensorboard" / "inspect"), size_guidance={"tensors": 0})
    acc.Reload()
    assert {"inspect/c", "filters/c", "inspect/out", "filters/out"} <= set(acc.Tags()["tensors"])


@pytest.mark.keras
def test_compare_draws_one_layer_of_each_run_on_one_scale(tmp_path):
    from caegen.inspect.compare import comparison

    spec = caegen.loads(FUSED)
    full = finished_run(spec, tmp_path / "runs", seed=0)
    shrunk = finished_run(spec, tmp_path / "runs", seed=0, factor=0.5)  # as if decayed
    rows, x, label = comparison([full, shrunk], "c", image=3)
    (_, a), (_, b) = rows
    assert a.grid.scale == b.grid.scale == pytest.approx(np.abs(a.grid.kernel).max())
    np.testing.assert_allclose(b.grid.scaled() - 0.5, (a.grid.scaled() - 0.5) / 2, atol=1e-12)
    for run, view in ((full, a), (shrunk, b)):
        np.testing.assert_allclose(view.maps.after, cut(load(run), "c", x), atol=1e-6)
    assert label == "test image 3"
    out = tmp_path / "cmp"
    runs = [str(full.path), str(shrunk.path)]
    options = ["--out", str(out), "--inspect", "c", "--inspect-image", "3"]
    result = runner.invoke(app, ["compare", *runs, *options])
    assert result.exit_code == 0, result.output
    figure = png(out / "inspect_c.png")
    assert figure.shape[0] > 600 and figure.std() > 20
    fresh = tmp_path / "cmp2"
    missing = runner.invoke(app, ["compare", str(full.path), "--out", str(fresh), "--inspect", "x"])
    assert missing.exit_code == 1 and "E090" in missing.output
    assert not fresh.exists() or not any(fresh.iterdir())  # no figure before the refusal
    assert runner.invoke(app, ["compare", str(full.path), "--inspect", "c"]).exit_code == 2


def test_inspect_help_never_imports_tensorflow():
    code = (
        "import sys\nfrom caegen.cli import app\ntry:\n    app(['inspect', '--help'])\n"
        "except SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'matplotlib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout
