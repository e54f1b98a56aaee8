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

from caegen.core.diagnostics import Location, error
from caegen.training.rendezvous import bind_port, meet, split_address, stop_on_sigterm

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
        """The cluster TF_CONFIG describes (None when it is not set), checked entry by
        entry: E068 names the entry that is wrong (a worker list given as one string
        would otherwise count its characters as workers)."""
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            return None
        try:
            config = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise _config_error("it is not JSON", str(exc)) from None
        if not isinstance(config, dict):
            raise _config_error("it is not a JSON object")
        cluster, task = config.get("cluster"), config.get("task")
        if not isinstance(cluster, dict):
            raise _config_error("`cluster` is missing or not an object", path="cluster")
        tasks: list[str] = []
        for kind in ("chief", "worker"):
            tasks += _addresses(cluster.get(kind, []), kind)
        if len(cluster.get("chief", [])) > 1:
            raise _config_error("`cluster.chief` names more than one task", path="cluster.chief")
        if not tasks:
            raise _config_error("`cluster` names no chief and no worker", path="cluster")
        return cls(tuple(tasks), _task_index(task, cluster))

    @property
    def address(self) -> tuple[str, int]:
        """This task's host and port."""
        return split_address(self.tasks[self.index])

    def check_port(self) -> None:
        """E078 when another process holds this task's port (TensorFlow would fail later
        with an unrelated gRPC message)."""
        bind_port(self.address[1]).close()

    def job_id(self, spec_hash: str) -> str:
        """The same on every worker and on every restart of the same job (whose workers
        may come back on other ports or hosts)."""
        key = json.dumps({"spec": spec_hash, "workers": len(self.tasks)})
        return hashlib.sha256(key.encode()).hexdigest()[:16]


_TF_CONFIG_HINT = (
    'set it as {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": '
    '"worker", "index": 0}} (a "chief" entry is optional)'
)


def _config_error(problem: str, detail: str | None = None, path: str | None = None) -> Exception:
    message = f"TF_CONFIG is not a cluster description this run can use: {problem}"
    return error(
        "E068",
        message + (f" ({detail})" if detail else ""),
        _TF_CONFIG_HINT,
        Location("TF_CONFIG", path=path),
    )


def _addresses(value: Any, kind: str) -> list[str]:
    if not isinstance(value, list):
        shown = "one string" if isinstance(value, str) else type(value).__name__
        raise _config_error(
            f"`cluster.{kind}` is {shown}, not a list of host:port addresses",
            path=f"cluster.{kind}",
        )
    for i, address in enumerate(value):
        try:
            split_address(address if isinstance(address, str) else "")
        except ValueError:
            raise _config_error(
                f"`cluster.{kind}[{i}]` is {json.dumps(address)[:60]}, not host:port with a "
                "port from 1 to 65535",
                path=f"cluster.{kind}[{i}]",
            ) from None
    return list(value)


def _task_index(task: Any, cluster: dict[str, Any]) -> int:
    """This process's position among the tasks (the chief first, then the workers)."""
    if not isinstance(task, dict):
        raise _config_error("`task` is missing or not an object", path="task")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ("chief", "worker") or not cluster.get(kind):
        raise _config_error(
            f"`task.type` is {json.dumps(kind)[:40]}: this process must be the chief or one "
            "of the workers the cluster lists",
            path="task.type",
        )
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int):
        raise _config_error("`task.index` is not a whole number", path="task.index")
    if not 0 <= index < len(cluster[kind]):
        raise _config_error(
            f"`task.index` is {index}; cluster.{kind} has {len(cluster[kind])} task(s)",
            path="task.index",
        )
    return (len(cluster.get("chief", [])) if kind == "worker" else 0) + index


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
    if strategy not in STRATEGIES:
        raise error("E068", f"unknown strategy `{strategy}`", f"choose {', '.join(STRATEGIES)}")
    cluster = Cluster.from_env()  # checked before TensorFlow is imported
    if strategy == "auto" and cluster is not None and len(cluster.tasks) > 1:
        strategy = "multi-worker"
    if strategy == "multi-worker" and cluster is None:
        raise error(
            "E068",
            "--strategy multi-worker needs TF_CONFIG, which is not set",
            "start the workers with `caegen train SPEC --local-workers N`, or set TF_CONFIG "
            "on each machine (README: Scaling out)",
        )
    import tensorflow as tf

    if strategy == "multi-worker" and cluster is not None and for_training:
        _multi_worker_strategy(cluster)  # before anything else starts TensorFlow's runtime
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if strategy == "auto":
        strategy = "mirrored" if len(gpus) > 1 else "one"
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


def _multi_worker_strategy(cluster: Cluster | None = None) -> Any:
    """The process's one MultiWorkerMirroredStrategy: TensorFlow allows it only before
    its runtime starts, and only once. The tasks meet first (caegen.training.rendezvous),
    where a signal can stop the wait."""
    import tensorflow as tf

    if not _multi_worker:
        stop_on_sigterm()
        cluster = cluster or Cluster.from_env() or Cluster(("",), 0)
        meet(cluster.tasks, cluster.index)
        _multi_worker.append(tf.distribute.MultiWorkerMirroredStrategy())
        stop_on_sigterm()  # TensorFlow's runtime installed a SIGTERM handler of its own
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
