"""Differential tests: caegen's static analysis against real Keras, on random specs.

Hypothesis draws specs over every layer type and wiring (merges, skips, dead branches),
valid and deliberately invalid. The oracle builds every layer in Keras and runs the model.
- caegen accepts  -> Keras builds and runs it, and every layer's output shape and
  (trainable, non-trainable) params equal caegen's.
- caegen rejects  -> Keras fails too, unless every error code is one documented as
  "Keras accepts this silently" (dead branch, latent bypass, ...).

Profiles: CAEGEN_DIFF_EXAMPLES (default 200) sets the number of examples. The default run
is derandomized and skips shrinking (a failure prints its whole spec at once);
CAEGEN_DIFF_RANDOM=1 draws fresh examples and shrinks what fails.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.keras, pytest.mark.slow]

keras = pytest.importorskip("keras")

import caegen  # noqa: E402
from caegen.compile.graph import INPUT  # noqa: E402
from caegen.compile.passes.wiring import build_graph  # noqa: E402
from caegen.core.diagnostics import CODES  # noqa: E402
from caegen.emit.keras_model import build, compare_with_keras  # noqa: E402
from caegen.spec.schema import Spec  # noqa: E402

EXAMPLES = int(os.environ.get("CAEGEN_DIFF_EXAMPLES", "200"))
ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh"]
TYPES = [
    "conv2d",
    "conv2d_transpose",
    "separable_conv2d",
    "depthwise_conv2d",
    "max_pool2d",
    "avg_pool2d",
    "upsampling2d",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "activation",
    "dropout",
    "gaussian_noise",
    "dense",
    "flatten",
    "reshape",
    "zero_padding2d",
    "cropping2d",
    "add",
    "concatenate",
    "multiply",
    "leaky_relu",
    "relu",
    "elu",
    "prelu",
    "spatial_dropout2d",
    "global_average_pooling2d",
]
INITIALIZERS = ["glorot_uniform", "he_normal", "lecun_uniform", "orthogonal", "zeros"]
small = st.integers(1, 3)
pair_or_int = st.one_of(small, st.tuples(small, small).map(list))


@st.composite
def conv_fields(draw, kind):
    fields = {
        "kernel_size": draw(pair_or_int),
        "strides": draw(st.one_of(st.just(1), pair_or_int)),
        "padding": draw(st.sampled_from(["same", "valid", "SAME", "Valid"])),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "use_bias": draw(st.booleans()),
    }
    if kind in ("conv2d", "conv2d_transpose") and draw(st.booleans()):
        fields["kernel_initializer"] = draw(st.sampled_from(INITIALIZERS))
        fields["kernel_regularizer"] = {"l1": 0.01, "l2": draw(st.sampled_from([0.0, 0.001]))}
    strided = fields["strides"] != 1
    if not strided or kind in ("separable_conv2d", "depthwise_conv2d"):
        fields["dilation_rate"] = draw(st.one_of(st.just(1), st.integers(1, 2)))
    if kind != "depthwise_conv2d":
        fields["filters"] = draw(st.integers(1, 5))
    if kind in ("separable_conv2d", "depthwise_conv2d"):
        fields["depth_multiplier"] = draw(st.integers(1, 2))
    if kind == "conv2d_transpose" and draw(st.booleans()):
        s = fields["strides"]
        s = s if isinstance(s, list) else [s, s]
        fields["output_padding"] = [draw(st.integers(0, x - 1)) for x in s]
    return fields


@st.composite
def layer_fields(draw, kind):
    if "conv2d" in kind:
        return draw(conv_fields(kind))
    if kind in ("max_pool2d", "avg_pool2d"):
        out = {"pool_size": draw(pair_or_int), "padding": draw(st.sampled_from(["same", "valid"]))}
        if draw(st.booleans()):
            out["strides"] = draw(pair_or_int)
        return out
    if kind == "upsampling2d":
        return {"size": draw(pair_or_int)}
    if kind == "batch_norm":
        return {"center": draw(st.booleans()), "scale": draw(st.booleans())}
    if kind == "layer_norm":
        return {"scale": draw(st.booleans())}
    if kind == "group_norm":
        return {"groups": draw(st.integers(1, 4))}
    if kind == "activation":
        return {"activation": draw(st.sampled_from(ACTIVATIONS))}
    if kind == "dropout":
        return {"rate": draw(st.sampled_from([0.0, 0.25, 0.5]))}
    if kind == "gaussian_noise":
        return {"stddev": draw(st.sampled_from([0.0, 0.1]))}
    if kind == "dense":
        out = {"units": draw(st.integers(1, 8)), "activation": draw(st.sampled_from(ACTIVATIONS))}
        if draw(st.booleans()):
            out["kernel_initializer"] = draw(st.sampled_from(INITIALIZERS))
            out["activity_regularizer"] = {"l1": 1e-4}
        return out
    if kind == "leaky_relu":
        return {"negative_slope": draw(st.sampled_from([0.0, 0.1, 0.3]))}
    if kind == "relu":
        return {"max_value": draw(st.sampled_from([None, 6.0])), "threshold": 0.0}
    if kind == "elu":
        return {"alpha": draw(st.sampled_from([0.5, 1.0]))}
    if kind == "prelu":
        return {"shared_axes": draw(st.sampled_from([None, [1], [1, 2], [3]]))}
    if kind == "spatial_dropout2d":
        return {"rate": draw(st.sampled_from([0.0, 0.25]))}
    if kind == "global_average_pooling2d":
        return {"keepdims": draw(st.booleans())}
    if kind == "reshape":
        return {
            "target_shape": draw(
                st.lists(st.integers(1, 6), min_size=1, max_size=3).map(lambda dims: [*dims, -1])
            )
        }
    if kind in ("zero_padding2d", "cropping2d"):
        key = "padding" if kind == "zero_padding2d" else "cropping"
        return {
            key: draw(
                st.one_of(
                    st.integers(0, 2),
                    st.tuples(
                        st.tuples(st.integers(0, 2), st.integers(0, 2)),
                        st.tuples(st.integers(0, 2), st.integers(0, 2)),
                    ).map(lambda t: [list(t[0]), list(t[1])]),
                )
            )
        }
    if kind == "concatenate":
        return {"axis": draw(st.sampled_from([-1, -1, 1, 2, 3]))}
    return {}


@st.composite
def specs(draw):
    n_enc, n_dec = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layers = {"encoder": [], "decoder": []}
    names: list[str] = []
    for section, n in (("encoder", n_enc), ("decoder", n_dec)):
        for _ in range(n):
            kind = draw(st.sampled_from(TYPES))
            fields = {"type": kind, "name": f"l{len(names)}", **draw(layer_fields(kind))}
            fields = {k: v for k, v in fields.items() if v is not None}
            earlier = [INPUT, *names]
            if kind in ("add", "concatenate", "multiply"):
                count = draw(st.sampled_from([1, 2, 2, 2, 3]))
                fields["inputs"] = draw(
                    st.lists(st.sampled_from(earlier), min_size=count, max_size=count)
                )
            elif draw(st.integers(0, 14)) == 0:
                fields["inputs"] = draw(st.sampled_from(earlier))
            elif draw(st.integers(0, 29)) == 0:
                fields["inputs"] = draw(st.lists(st.sampled_from(earlier), min_size=2, max_size=2))
            layers[section].append(fields)
            names.append(fields["name"])
    if draw(st.integers(0, 3)) == 0:  # a VAE head: mean and log-variance, then sampling
        head = draw(st.sampled_from(["dense", "conv2d"]))
        size = draw(st.integers(1, 4))
        field = {"units": size} if head == "dense" else {"filters": size, "kernel_size": 1}
        last = layers["encoder"][-1]["name"]
        layers["encoder"] += [
            {"type": head, "name": "mu", "inputs": last, **field},
            {"type": head, "name": "lv", "inputs": last, **field},
            {"type": "sampling", "name": "z", "inputs": ["mu", "lv"]},
        ]
    h, w, c = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 3))
    if draw(st.integers(0, 3)):
        # Most decoders end by projecting back to the input shape, so that random middles
        # still reconstruct it and the accepting side of the comparison is well covered.
        layers["decoder"] += [
            {"type": "flatten", "name": "tail_flatten"},
            {"type": "dense", "name": "tail_dense", "units": h * w * c},
            {"type": "reshape", "name": "tail_reshape", "target_shape": [h, w, c]},
        ]
    # an npz source can give any channel count the generator draws (2 included: E034)
    data = {"source": "npz", "path": "arrays.npz"}
    return Spec.model_validate({"name": "diff", "input": [h, w, c], "data": data, **layers})


def keras_runs_everything(spec: Spec) -> bool:
    """Build every wired layer (dead ones included) in plain Keras and run all of them."""
    graph, _ = build_graph(spec)
    try:
        tensors = {INPUT: keras.Input(shape=tuple(spec.input))}
        for node in graph.layers():
            layer = node.layer.to_keras(node.name)
            inputs = [tensors[s] for s in node.inputs]
            tensors[node.name] = layer(inputs if node.layer.is_merge else inputs[0])
        # every layer's output, dead ones too: run-time failures must show wherever they are
        names = [node.name for node in graph.layers()]
        model = keras.Model(tensors[INPUT], [tensors[n] for n in names])
        outs = model(np.zeros((2, *spec.input), dtype="float32"), training=False)
        return all(np.all(np.isfinite(np.asarray(out))) for out in outs)
    except Exception:  # any failure is Keras rejecting the spec
        return False


RANDOM = os.environ.get("CAEGEN_DIFF_RANDOM") is not None


def _spec(input_shape: list[int], encoder: list[dict], decoder: list[dict]) -> Spec:
    return Spec.model_validate(
        {"name": "diff", "input": input_shape, "encoder": encoder, "decoder": decoder}
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not RANDOM,
    phases=list(Phase) if RANDOM else [p for p in Phase if p is not Phase.shrink],
)
@given(specs())
# Regressions found by random runs: a dilated conv2d_transpose (TensorFlow's default CPU
# kernel rejects it, oneDNN builds run it: W109) and a dilated separable conv with unequal
# strides (which TensorFlow runs).
@example(
    _spec(
        [6, 6, 1],
        [{"type": "conv2d", "name": "e", "filters": 1, "kernel_size": 1}],
        [
            {
                "type": "conv2d_transpose",
                "name": "d",
                "filters": 1,
                "kernel_size": 3,
                "dilation_rate": 2,
            }
        ],
    )
)
@example(
    _spec(
        [5, 5, 2],
        [
            {
                "type": "separable_conv2d",
                "name": "e",
                "filters": 2,
                "kernel_size": 1,
                "strides": [1, 2],
                "dilation_rate": 2,
            }
        ],
        [
            {"type": "upsampling2d", "name": "u", "size": [1, 2]},
            {"type": "cropping2d", "name": "d", "cropping": [[0, 0], [0, 1]]},
        ],
    )
)
def test_static_analysis_agrees_with_keras(spec):
    keras.backend.clear_session(free_memory=False)  # a full gc per example is slow on a big heap
    report = caegen.check(spec)
    keras_ok = keras_runs_everything(spec)
    event("caegen accepts" if report.ok else "caegen rejects")
    event("keras runs it" if keras_ok else "keras fails")
    if report.ok:
        # whether some ops run depends on the machine's kernels (W109): either outcome is
        # right there, and the static shapes and params must still equal what Keras builds
        backend_dependent = any(d.code == "W109" for d in report.diagnostics)
        if backend_dependent:
            event("keras runs a backend-dependent op" if keras_ok else "backend lacks a kernel")
        else:
            assert keras_ok, f"caegen accepts a spec that Keras rejects: {spec.resolved()}"
        built = build(spec, report=report)
        for agreement in compare_with_keras(built):
            assert agreement.agrees, agreement
        p = report.params
        assert built.autoencoder.count_params() == p.total
        if built.decoder is not None:
            total = built.encoder.count_params() + built.decoder.count_params()
            assert total == p.total
    else:
        codes = {d.code for d in report.errors}
        for code in codes:
            event(f"error {code}")
        silent = {c for c in codes if CODES[c].keras_accepts_silently}
        if keras_ok:
            assert codes == silent, (
                f"caegen rejects with {sorted(codes - silent)} but Keras builds and runs it: "
                f"{spec.resolved()}"
            )
