"""Precise batch norm: before a run's final evaluation, every batch-norm layer's moving mean
and variance become the exact mean and variance of its inputs over the training images.

Training leaves moving averages of batch statistics (momentum 0.99: after 240 steps, 9% of
the initial (0, 1) statistics remain), which can score a good model badly. Like fvcore's
`update_bn_stats` and PyTorch's `swa_utils.update_bn` (Wu & Johnson 2021, "Rethinking
'Batch' in BatchNorm"), a separate pass over the training images sets population
statistics; the trained weights are not changed.

Exactness decides the passes. A layer's statistics are those of its inputs as the model
computes them in inference mode, with the batch-norm layers before it already set; those
inputs pass through nonlinear layers after the earlier batch-norm layers, so they cannot
be derived from statistics gathered before those layers are set. The layers are therefore
set in stages, one per batch-norm *depth* (the most batch-norm layers on a path from the
input, the layer itself included); the layers of one depth share a stage. Each stage
continues from the tensors the previous one kept for every training image, so every layer
runs once over the training images: one forward pass in all. When the kept tensors would
not fit in a quarter of the available memory, each stage starts again from the input
images instead: at most one forward pass per depth, each only as deep as that stage needs.

The images are the training split in order, in inference mode (dropout and gaussian_noise
layers pass inputs through); a denoiser sees noisy images, as in training and testing, the
noise keyed by (train.seed + 2, image). Each batch's squared deviations are taken from its
own mean and summed in float32 within an image, in float64 across images and batches, so
the variance loses no precision to cancellation or to long float32 sums.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from caegen.compile.graph import INPUT, Graph
from caegen.spec.schema import Spec
from caegen.training.images import Images

BATCH = 256
NOISE_SEED_OFFSET = 2
"""The denoising noise of the recalibration pass is keyed by (train.seed + 2, image): apart
from training's (seed, epoch, step) and the test split's (seed + 1, image)."""


@dataclass(frozen=True)
class Stage:
    """One pass over the training images: from the tensors it `reads`, it `runs` layers,
    measures the inputs of the batch-norm layers it `sets`, and `keeps` tensors for the
    next stage."""

    reads: tuple[str, ...]
    runs: tuple[str, ...]
    sets: tuple[str, ...]
    keeps: tuple[str, ...] = ()


def batch_norm_depths(graph: Graph) -> dict[str, int]:
    """Each live tensor's batch-norm depth: the most batch-norm layers on a path from the
    input to it, itself included."""
    depth = {INPUT: 0}
    for node in graph.live_layers():  # in spec order, which is a topological order
        upstream = max(depth[name] for name in node.inputs)
        depth[node.name] = upstream + (node.type == "batch_norm")
    return depth


def batch_norm_names(graph: Graph) -> list[str]:
    return [n.name for n in graph.live_layers() if n.type == "batch_norm"]


def plan_stages(graph: Graph, keep: bool = True) -> list[Stage]:
    """The stages that set every batch-norm layer of `graph`, shallowest first.

    `keep`: each stage continues from the tensors the previous one kept (every layer runs
    once); otherwise each stage starts from the input and runs all it needs.
    """
    norms = batch_norm_names(graph)
    if not norms:
        return []
    depth = batch_norm_depths(graph)
    measured = {name: graph.node(name).inputs[0] for name in norms}
    needed = set().union(*(graph.ancestors(src) for src in measured.values())) - {INPUT}
    order = [n.name for n in graph.live_layers() if n.name in needed]
    consumers = graph.consumers()
    stages: list[Stage] = []
    reads: tuple[str, ...] = (INPUT,)
    deepest = max(depth[name] for name in norms)
    for level in range(1, deepest + 1):
        sets = tuple(name for name in norms if depth[name] == level)
        if keep:
            runs = tuple(name for name in order if depth[name] == level - 1)
        else:
            wanted = set().union(*(graph.ancestors(measured[name]) for name in sets))
            runs = tuple(name for name in order if name in wanted)
        keeps: tuple[str, ...] = ()
        if keep and level < deepest:
            # tensors a later stage's layers read (those layers have depth >= level)
            keeps = tuple(
                t
                for t in reads + runs
                if any(c in needed and depth[c] >= level for c in consumers.get(t, []))
            )
        stages.append(Stage(reads, runs, sets, keeps))
        reads = keeps if keep else (INPUT,)
    return stages


def kept_bytes(graph: Graph, stages: list[Stage], images: int) -> int:
    """The most memory the kept tensors of all images take at once (float32): while a stage
    runs, the tensors it reads and those it keeps (a tensor passed on is held once)."""

    def size(names: set[str]) -> int:
        return sum(prod(graph.node(n).shape or ()) for n in names)

    # the first stage reads the input pipeline, not kept tensors
    held = [set(s.keeps) | (set(s.reads) if i else set()) for i, s in enumerate(stages)]
    return max(map(size, held), default=0) * images * 4


def recalibrate(
    model: Any, graph: Graph, spec: Spec, images: Images, budget: int | None = None
) -> dict[str, Any]:
    """Set every batch-norm layer's moving mean and variance to the exact population
    statistics of its inputs over `images` (see the module's docstring). `budget`: bytes
    the kept tensors may take (default: a quarter of the available memory).

    Returns what metrics.json records: the layers, the stages, whether each stage
    continued from kept tensors, the images and the seconds it took."""
    from caegen.compile.memory import available_memory
    from caegen.training.pipeline import evaluation_dataset

    started = time.perf_counter()
    if budget is None:
        budget = (available_memory() or 4 * 1024**3) // 4
    keep = kept_bytes(graph, plan_stages(graph, keep=True), len(images)) <= budget
    stages = plan_stages(graph, keep=keep)
    seed = spec.train.seed + NOISE_SEED_OFFSET

    def input_batches() -> Iterator[dict[str, Any]]:
        for x, _ in evaluation_dataset(images, spec, BATCH, seed=seed):
            yield {INPUT: x}

    kept: list[dict[str, Any]] | None = None
    for stage in stages:
        source: Iterable[dict[str, Any]] = input_batches() if kept is None else kept
        kept = _run_stage(model, graph, stage, source) or None  # None: the next reads input
    return {
        "layers": len(batch_norm_names(graph)),
        "stages": len(stages),
        "kept_tensors": keep,
        "train_images": len(images),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _run_stage(
    model: Any, graph: Graph, stage: Stage, batches: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Measure the stage's layers over every batch, set their statistics, and return the
    tensors it keeps, batch by batch."""
    layers = [model.get_layer(name) for name in stage.sets]
    step = _stage_function(model, graph, stage, layers)
    moments = [_Moments() for _ in layers]
    kept: list[dict[str, Any]] = []
    computed = [name for name in stage.keeps if name not in stage.reads]
    for batch in batches:
        sums, keeps = step([batch[name] for name in stage.reads])
        for accumulated, (mean, m2, count) in zip(moments, sums, strict=True):
            accumulated.add(mean.numpy(), m2.numpy(), int(count))
        if stage.keeps:  # a tensor passed on is the same tensor, not a copy
            passed = {name: batch[name] for name in stage.keeps if name in stage.reads}
            kept.append({**passed, **dict(zip(computed, keeps))})
    for layer, accumulated in zip(layers, moments, strict=True):
        mean, variance = accumulated.result()
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(variance.astype(np.float32))
    return kept


class _Moments:
    """A layer's per-channel count, mean and sum of squared deviations over every batch:
    each batch's are computed on the device (deviations from the batch's own mean), and
    batches are merged in float64 with Chan et al.'s pairwise update (no cancellation)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0

    def add(self, mean: np.ndarray, m2: np.ndarray, count: int) -> None:
        mean, m2 = mean.astype(np.float64), m2.astype(np.float64)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * count / total)
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.mean), np.asarray(self.m2) / self.count


def _stage_function(model: Any, graph: Graph, stage: Stage, layers: list[Any]) -> Callable:
    """step(read tensors) -> ([(mean, m2, count) per layer set], [kept tensors]), traced once."""
    import keras
    import tensorflow as tf

    from caegen.emit.keras_model import apply_layers

    inputs = {name: keras.Input(shape=graph.node(name).shape) for name in stage.reads}
    made = {name: model.get_layer(name) for name in stage.runs}
    tensors = apply_layers(graph, [graph.node(n) for n in stage.runs], dict(inputs), made)
    sources = [graph.node(s).inputs[0] for s in stage.sets]
    outputs = [n for n in dict.fromkeys([*sources, *stage.keeps]) if n in stage.runs]
    sub = keras.Model(list(inputs.values()), [tensors[n] for n in outputs]) if outputs else None
    signature = [tf.TensorSpec((None, *graph.node(n).shape), tf.float32) for n in stage.reads]

    @tf.function(input_signature=(signature,))
    def step(read: list[Any]) -> tuple[list[Any], list[Any]]:
        values = dict(zip(stage.reads, read))
        if sub is not None:
            computed = sub(read, training=False)
            computed = computed if isinstance(computed, list | tuple) else [computed]
            values.update(zip(outputs, computed))
        moments = [_moments(values[src], layer.axis) for src, layer in zip(sources, layers)]
        # kept as float32 whatever the compute dtype, as the next stage's signature reads
        kept = [tf.cast(values[n], tf.float32) for n in stage.keeps if n not in stage.reads]
        return moments, kept

    return step


def _moments(x: Any, axis: int) -> tuple[Any, Any, Any]:
    """One batch's per-channel mean, sum of squared deviations from it, and count.

    Deviations are taken from the batch's float32 mean (a shift only: its rounding cancels
    out), summed in float32 within each image and in float64 across images."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    channel = axis % len(x.shape)
    spatial = [i for i in range(1, len(x.shape)) if i != channel]
    shift = tf.reduce_mean(x, [0, *spatial], keepdims=True)
    deviation = x - shift

    def total(t: Any) -> Any:
        per_image = tf.reduce_sum(t, spatial) if spatial else t
        return tf.reduce_sum(tf.cast(per_image, tf.float64), 0)

    s1, s2 = total(deviation), total(tf.square(deviation))
    count = tf.cast(tf.size(x) // tf.shape(x)[channel], tf.float64)
    mean = tf.cast(tf.squeeze(shift, [0, *spatial]), tf.float64) + s1 / count
    return mean, s2 - s1 * s1 / count, count
