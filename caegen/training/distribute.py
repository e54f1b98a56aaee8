"""Which tf.distribute strategy a run uses, resolved once and shown by `train --dry-run`.

- one device (CPU or one GPU): TensorFlow's default strategy;
- `mirrored`: MirroredStrategy over this machine's GPUs (or its logical CPU devices, when
  the CPU was split into several, as tests do);
- `multi-worker`: MultiWorkerMirroredStrategy across the machines `TF_CONFIG` names (as
  Kubernetes TFJob, Vertex AI or a SLURM script set it, or `--local-workers`).

`auto` picks multi-worker when `TF_CONFIG` names more than one task, else mirrored on
several GPUs, else one device. The spec's batch size is the global batch, split evenly
across the replicas; the learning rate is never rescaled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from caegen.core.diagnostics import error

if TYPE_CHECKING:
    from caegen.training.pipeline import Shard

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")


@dataclass(frozen=True)
class Resolved:
    strategy: str
    devices: tuple[str, ...]
    gpus: int
    replicas: int
    global_batch: int
    per_replica_batch: int
    mixed_precision: bool
    jit_compile: bool
    workers: int = 1
    worker_index: int = 0

    @property
    def multi_worker(self) -> bool:
        return self.strategy == "multi-worker"

    @property
    def is_chief(self) -> bool:
        """The worker that writes the run directory and scores the model."""
        return self.worker_index == 0

    def shard(self) -> Shard | None:
        """This worker's replicas of the job, for cutting each global batch (multi-worker)."""
        from caegen.training.pipeline import Shard

        if not self.multi_worker:
            return None
        local = self.replicas // self.workers
        return Shard(self.worker_index * local, local, self.replicas)

    def steps_per_epoch(self, images: int) -> int:
        from caegen.training.pipeline import steps_per_epoch

        shard = self.shard()
        if shard is None:
            return steps_per_epoch(images, self.global_batch)
        return shard.steps(images, self.global_batch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cluster:
    """The job `TF_CONFIG` describes: its tasks in order (the chief first) and ours."""

    tasks: tuple[str, ...]
    index: int

    @classmethod
    def from_env(cls) -> Cluster | None:
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            return None
        try:
            config = json.loads(raw)
            cluster, task = config["cluster"], config["task"]
            ordered = [
                (kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))
            ]
            index = ordered.index((task["type"], int(task["index"])))
            tasks = tuple(addr for kind in ("chief", "worker") for addr in cluster.get(kind, []))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise error(
                "E068",
                "TF_CONFIG is not a cluster description this run can use",
                'set it as {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": '
                '{"type": "worker", "index": 0}} (a "chief" entry is optional)',
            ) from None
        return cls(tasks, index)

    def job_id(self, spec_hash: str) -> str:
        """The same on every worker and on every restart of the same job (whose workers
        may come back on other ports or hosts)."""
        key = json.dumps({"spec": spec_hash, "workers": len(self.tasks)})
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def worker_cluster(strategy: str) -> Cluster | None:
    """The cluster this process is a worker of, when the run is multi-worker (no
    TensorFlow needed: TF_CONFIG alone says)."""
    if strategy not in ("auto", "multi-worker"):
        return None
    cluster = Cluster.from_env()
    if cluster is None or (strategy == "auto" and len(cluster.tasks) < 2):
        return None
    return cluster


def _toggle(value: str, gpu: bool) -> bool:
    return gpu if value == "auto" else value == "on"


def resolve(
    spec: Any, batch_size: int, strategy: str = "auto", for_training: bool = True
) -> Resolved:
    """`for_training`: the strategy will be made (a multi-worker one is created now, before
    TensorFlow's runtime starts); False for a dry run, which only reports."""
    import tensorflow as tf

    if strategy not in STRATEGIES:
        raise error("E068", f"unknown strategy `{strategy}`", f"choose {', '.join(STRATEGIES)}")
    cluster = Cluster.from_env()
    if strategy == "auto" and cluster is not None and len(cluster.tasks) > 1:
        strategy = "multi-worker"
    if strategy == "multi-worker" and cluster is not None and for_training:
        _multi_worker_strategy()  # before anything else starts TensorFlow's runtime
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if strategy == "auto":
        strategy = "mirrored" if len(gpus) > 1 else "one"
    if strategy == "multi-worker" and cluster is None:
        raise error(
            "E068",
            "--strategy multi-worker needs TF_CONFIG, which is not set",
            "start the workers with `caegen train SPEC --local-workers N`, or set TF_CONFIG "
            "on each machine (README: Scaling out)",
        )
    workers = len(cluster.tasks) if strategy == "multi-worker" and cluster else 1
    if strategy == "mirrored":
        devices = tuple(gpus) or tuple(cpus)
        local = len(devices)
    else:
        devices = tuple(gpus[:1]) if strategy == "one" else tuple(gpus)
        devices = devices or tuple(cpus[:1])
        local = len(devices)
    replicas = local * workers
    return Resolved(
        strategy="one device" if strategy == "one" else strategy,
        devices=devices,
        gpus=len(gpus),
        replicas=replicas,
        global_batch=batch_size,
        per_replica_batch=math.ceil(batch_size / replicas),
        mixed_precision=_toggle(spec.train.mixed_precision, bool(gpus)),
        # the multi-worker step holds a collective all-reduce, which XLA does not compile
        jit_compile=_toggle(spec.train.jit_compile, bool(gpus)) and strategy != "multi-worker",
        workers=workers,
        worker_index=cluster.index if cluster is not None and workers > 1 else 0,
    )


_multi_worker: list[Any] = []


def _multi_worker_strategy() -> Any:
    """The process's one MultiWorkerMirroredStrategy: TensorFlow allows it only before
    its runtime starts, and only once."""
    import tensorflow as tf

    if not _multi_worker:
        _multi_worker.append(tf.distribute.MultiWorkerMirroredStrategy())
    return _multi_worker[0]


def make_strategy(resolved: Resolved) -> Any:
    import tensorflow as tf

    if resolved.strategy == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(resolved.devices))
    if resolved.multi_worker:
        return _multi_worker_strategy()
    return tf.distribute.get_strategy()


def average_replica_state(strategy: Any, model: Any) -> None:
    """Give every replica the mean of the replicas' non-trainable float state.

    Keras 3 keeps a batch norm's moving statistics per replica (their variables have no
    aggregation), so the replicas drift apart and a saved model would hold the first
    replica's alone. The moving averages are linear in the batch statistics, so averaging
    them once per epoch gives what averaging every step would (Keras 2's behaviour).
    """
    import tensorflow as tf

    state = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
    if not state or strategy.num_replicas_in_sync < 2:
        return

    def mean() -> list[Any]:
        ctx = tf.distribute.get_replica_context()
        return [ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.identity(v.value)) for v in state]

    values = strategy.run(tf.function(mean))
    for variable, value in zip(state, values, strict=True):
        variable.assign(strategy.experimental_local_results(value)[0])


def replica_sync_callback(strategy: Any) -> Any:
    import keras

    class AverageReplicaState(keras.callbacks.Callback):
        """Before anything is checkpointed at the end of an epoch (put it first)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            average_replica_state(strategy, self.model)

    return AverageReplicaState()
