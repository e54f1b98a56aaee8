"""Which tf.distribute strategy a run uses, resolved once and shown by `train --dry-run`.

One device (CPU or one GPU) trains under TensorFlow's default strategy; several local GPUs
under `MirroredStrategy`. The spec's batch size is the global batch, split evenly across
the replicas; the learning rate is never rescaled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _toggle(value: str, gpu: bool) -> bool:
    return gpu if value == "auto" else value == "on"


def resolve(spec: Any, batch_size: int) -> Resolved:
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    devices = tuple(gpus) or tuple(d.name for d in tf.config.list_physical_devices("CPU"))[:1]
    replicas = max(1, len(gpus))
    return Resolved(
        strategy="mirrored" if len(gpus) > 1 else "one device",
        devices=devices,
        gpus=len(gpus),
        replicas=replicas,
        global_batch=batch_size,
        per_replica_batch=math.ceil(batch_size / replicas),
        mixed_precision=_toggle(spec.train.mixed_precision, bool(gpus)),
        jit_compile=_toggle(spec.train.jit_compile, bool(gpus)),
    )


def make_strategy(resolved: Resolved) -> Any:
    import tensorflow as tf

    if resolved.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
