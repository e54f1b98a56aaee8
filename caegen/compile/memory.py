"""Will it fit? Memory estimates checked before anything large is allocated (E053, E063).

The static summary knows the parameter count and the activation memory per sample, so
training and `summary --keras` can refuse a model that would exhaust the machine's memory
with the numbers, instead of swapping or dying in TensorFlow's allocator.
"""

from __future__ import annotations

from typing import Any

from caegen.core.diagnostics import error

GIB = 1024**3
BYTES_PER_VALUE = 4
# Training keeps each layer's output for the backward pass and holds its gradient too, with
# workspace besides: about three copies of the activations per sample in the batch.
ACTIVATION_COPIES = 3


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def training_bytes(report: Any, batch_size: int, optimizer: str) -> tuple[int, int]:
    """(activation bytes for one batch, parameter bytes with gradients and optimizer state)."""
    activations = report.activation_bytes * batch_size * ACTIVATION_COPIES
    from caegen.spec.optimizers import SLOTS

    # per parameter: the weight and its gradient, plus the optimizer's slots
    params = report.params.total * BYTES_PER_VALUE * (2 + SLOTS.get(optimizer, 2))
    return activations, params


def check_training_memory(report: Any, batch_size: int, optimizer: str) -> None:
    """E063 when a training step of this batch size cannot fit in the memory left."""
    activations, params = training_bytes(report, batch_size, optimizer)
    available = available_memory()
    if available is None or activations + params <= available:
        return
    per_sample = report.activation_bytes * ACTIVATION_COPIES
    fitting = max(0, (available - params) // max(per_sample, 1))
    raise error(
        "E063",
        f"a training step needs about {(activations + params) / GIB:.1f} GiB "
        f"(activations {activations / GIB:.1f} GiB for a batch of {batch_size:,}; parameters "
        f"with gradients and {optimizer} state {params / GIB:.1f} GiB); "
        f"{available / GIB:.1f} GiB is available",
        f"lower train.batch_size (about {fitting:,} fits), or use a smaller input or fewer filters"
        if fitting
        else "the model does not fit at any batch size: use a smaller input or fewer filters",
    )


def check_model_memory(report: Any) -> None:
    """E063 when building the model's weights alone would not fit (e.g. `summary --keras`)."""
    needed = report.params.total * BYTES_PER_VALUE * 2  # the weights and their initializers
    available = available_memory()
    if available is not None and needed > available:
        raise error(
            "E063",
            f"building {report.params.total:,} parameters needs about {needed / GIB:.1f} GiB; "
            f"{available / GIB:.1f} GiB is available",
            "the static summary (without --keras) has every number; shrink the dense layers",
        )
