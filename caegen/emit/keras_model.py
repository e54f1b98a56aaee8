"""Emit Keras 3 functional models from a checked spec.

Only `keras.*` APIs are used, so the models also run under the JAX and PyTorch backends.
Keras layer names are the spec's layer names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from caegen.compile.compiler import Report, check
from caegen.compile.graph import INPUT, Graph, Node
from caegen.core.diagnostics import CaegenError, Diagnostic, Location
from caegen.spec.schema import Spec

if TYPE_CHECKING:
    import keras


@dataclass
class Built:
    """The autoencoder and its two halves; all three share the same layer objects."""

    autoencoder: keras.Model
    encoder: keras.Model
    decoder: keras.Model | None
    """None when the decoder reads the encoder side directly (skip connections)."""
    report: Report
    tensors: dict[str, Any]
    """The autoencoder's symbolic output of each layer, by layer name."""
    decoder_note: Diagnostic | None = None
    """Why `decoder` is None."""


def _regularizer(spec: Spec, node: Node) -> Any:
    decay = spec.train.weight_decay
    if decay.l2 <= 0 or (decay.scope == "encoder" and node.section != "encoder"):
        return None
    import keras

    return keras.regularizers.L2(decay.l2)


def apply_layers(
    graph: Graph,
    nodes: list[Node],
    tensors: dict[str, Any],
    made: dict[str, Any],
    *,
    output_dtype: str | None = None,
) -> dict[str, Any]:
    """Call each node's Keras layer on its inputs, creating layers not yet in `made`."""
    for node in nodes:
        assert node.layer is not None
        layer = made.get(node.name)
        if layer is None:
            dtype = output_dtype if node.name == graph.output else None
            layer = node.layer.to_keras(node.name, _regularizer(graph.spec, node), dtype)
            made[node.name] = layer
        inputs = [tensors[src] for src in node.inputs]
        tensors[node.name] = layer(inputs if node.layer.is_merge else inputs[0])
    return tensors


def build(spec: Spec, *, report: Report | None = None, float32_output: bool = False) -> Built:
    """Build the Keras models of a spec that checks without errors.

    `float32_output` keeps the reconstruction in float32 under a mixed-precision policy.
    """
    report = report or check(spec)
    if not report.ok:
        raise CaegenError(report.errors)
    import keras

    graph = report.graph
    assert graph is not None
    inp = keras.Input(shape=tuple(spec.input), name=INPUT)
    made: dict[str, Any] = {}
    live = graph.live_layers()
    tensors = apply_layers(
        graph, live, {INPUT: inp}, made, output_dtype="float32" if float32_output else None
    )
    autoencoder = keras.Model(inp, tensors[graph.output], name=spec.name)
    encoder, decoder, note = split_models(autoencoder, report, tensors[graph.latent])
    return Built(autoencoder, encoder, decoder, report, tensors, note)


def split_models(
    autoencoder: keras.Model, report: Report, latent: Any = None
) -> tuple[keras.Model, keras.Model | None, Diagnostic | None]:
    """The encoder and (when separable) decoder of an autoencoder, sharing its layers.

    Works on a freshly built model and on one loaded from a `.keras` file.
    """
    import keras

    graph, spec = report.graph, report.spec
    assert graph is not None and spec is not None
    if latent is None:
        latent = autoencoder.get_layer(graph.latent).output
    encoder = keras.Model(autoencoder.inputs[0], latent, name=f"{spec.name}-encoder")
    if report.decoder_separable:
        latent_shape = graph.node(graph.latent).shape
        assert latent_shape is not None
        latent_in = keras.Input(shape=latent_shape, name="latent")
        decoder_nodes = [n for n in graph.live_layers() if n.section == "decoder"]
        made = {n.name: autoencoder.get_layer(n.name) for n in decoder_nodes}
        dec_tensors = apply_layers(graph, decoder_nodes, {graph.latent: latent_in}, made)
        decoder = keras.Model(latent_in, dec_tensors[graph.output], name=f"{spec.name}-decoder")
        return encoder, decoder, None
    note = Diagnostic(
        "I108",
        "the decoder reads encoder layers directly (skip connections); no standalone "
        "decoder model is built",
        Location(spec.source.file if spec.source else None, path="decoder"),
        "remove the skip connections to get a decoder model",
    )
    return encoder, None, note


@dataclass(frozen=True)
class LayerAgreement:
    """caegen's static numbers next to the built Keras layer's, for one layer."""

    name: str
    static_shape: tuple[int, ...] | None
    keras_shape: tuple[int, ...] | None
    static_params: tuple[int, int]
    keras_params: tuple[int, int]

    @property
    def agrees(self) -> bool:
        return self.static_shape == self.keras_shape and self.static_params == self.keras_params


def keras_params(layer: Any) -> tuple[int, int]:
    """A built Keras layer's (trainable, non-trainable) parameter counts."""
    from math import prod

    trainable = sum(prod(w.shape) for w in layer.trainable_weights)
    non_trainable = sum(prod(w.shape) for w in layer.non_trainable_weights)
    return int(trainable), int(non_trainable)


def compare_with_keras(built: Built) -> list[LayerAgreement]:
    """Layer by layer: the static shape and params against the real Keras model's."""
    out: list[LayerAgreement] = []
    for node in built.report.graph.live_layers() if built.report.graph else []:
        static = node.params
        out.append(
            LayerAgreement(
                node.name,
                node.shape,
                tuple(built.tensors[node.name].shape[1:]),
                (static.trainable, static.non_trainable) if static else (0, 0),
                keras_params(built.autoencoder.get_layer(node.name)),
            )
        )
    return out
