"""The Keras callbacks of a run: checkpoint and history per epoch, Ctrl-C and NaN handling,
TensorBoard, the KL warm-up, learning-rate schedules and early stopping."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from caegen.spec.optimizers import schedule_callbacks
from caegen.training.model import reseed_layers
from caegen.training.options import Progress
from caegen.training.rundir import RUNNING

if TYPE_CHECKING:
    from caegen.training.distribute import Resolved
    from caegen.training.plan import Plan


class Interrupt:
    """Ctrl-C during training: stop at the end of the current batch.

    A KeyboardInterrupt that Python raises while TensorFlow's runtime is on the stack can be
    lost, and training goes on. The handler only records the request; the run callback
    raises KeyboardInterrupt from plain Python at the next batch boundary, so the last
    finished epoch stays checkpointed. A second Ctrl-C raises at once.
    """

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def raise_if_requested(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The handler for SIGINT while the block runs (only the main thread can set it)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        self.raise_if_requested()


class Diverged(Exception):
    def __init__(self, epoch: int) -> None:
        super().__init__(f"diverged in epoch {epoch}")
        self.epoch = epoch


def run_callback(
    plan: Plan,
    history: list[dict[str, Any]],
    progress: Progress,
    steps: int,
    interrupt: Interrupt | None,
) -> Any:
    """Checkpoints each good epoch, records history and status, stops on NaN.
    `interrupt`: raise at the next batch on Ctrl-C (None: the loop stops by itself)."""
    import keras

    run, epochs, seed = plan.run, plan.spec.train.epochs, plan.spec.train.seed
    images_per_epoch = len(plan.data.train)

    class RunCallback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.diverged_at: int | None = None
            self.epoch_start = 0.0
            self.current_epoch = 0

        def stop_if_asked(self) -> None:
            if interrupt is not None:
                interrupt.raise_if_requested()

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.stop_if_asked()
            reseed_layers(self.model, seed, epoch)
            self.epoch_start = time.perf_counter()
            self.current_epoch = epoch

        def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.stop_if_asked()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.stop_if_asked()
            loss = float((logs or {}).get("loss", 0.0))
            if not math.isfinite(loss):
                self.diverged_at = self.current_epoch + 1
                self.model.stop_training = True
                return
            progress.batch(self.current_epoch + 1, batch + 1, steps, loss)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            losses = [logs.get("loss"), logs.get("val_loss")]
            if self.diverged_at is not None or not all(
                v is not None and math.isfinite(v) for v in losses
            ):
                self.diverged_at = self.diverged_at or epoch + 1
                self.model.stop_training = True
                return  # the last good checkpoint stays as it is
            seconds = time.perf_counter() - self.epoch_start
            row = history_row(epoch, logs, images_per_epoch / seconds, seconds)
            history.append(row)
            # history first: a crash before the checkpoint lands costs this row, not a gap
            run.write_history(history)
            run.save_checkpoint(self.model, epoch + 1)
            run.mark(RUNNING, epoch + 1)
            # the first epoch traces and compiles: leave it out of the estimate when we can
            recent = [r["seconds"] for r in history[1:]] or [seconds]
            progress.epoch(row, epochs, float(np.median(recent)) * (epochs - epoch - 1))

    return RunCallback()


def history_row(
    epoch: int, logs: dict[str, Any], images_per_s: float, seconds: float
) -> dict[str, Any]:
    """One row of history.csv: the 0-based `epoch`'s losses and speed."""
    return {
        "epoch": epoch + 1,
        "loss": float(logs["loss"]),
        "val_loss": float(logs["val_loss"]),
        "reconstruction_error": _float(logs.get("reconstruction_error")),
        "val_reconstruction_error": _float(logs.get("val_reconstruction_error")),
        "kl": _float(logs.get("kl")),
        "val_kl": _float(logs.get("val_kl")),
        "images_per_s": images_per_s,
        "seconds": seconds,
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def run_callbacks(
    plan: Plan, resolved: Resolved, strategy: Any, run_cb: Any, test: Any, variational: bool
) -> list[Any]:
    """Every callback of the run, in the order Keras calls them."""
    import keras

    from caegen.training.distribute import replica_sync_callback
    from caegen.training.pipeline import evaluation_arrays
    from caegen.training.tensorboard import fixed_images, image_callback
    from caegen.training.variational import kl_schedule

    spec, cfg, run = plan.spec, plan.spec.train, plan.run
    shown = fixed_images(len(test), cfg.seed)
    shown_in, shown_clean = evaluation_arrays(test, spec, seed=cfg.seed + 1, indices=shown)
    callbacks = [
        *([replica_sync_callback(strategy)] if resolved.replicas > 1 else []),
        run_cb,
        keras.callbacks.TensorBoard(log_dir=str(run.path / "tensorboard"), write_graph=True),
        image_callback(run.path, spec, shown_in, shown_clean),
    ]
    if variational:
        callbacks.append(kl_schedule(cfg.kl_weight, cfg.kl_warmup_epochs))
    callbacks += schedule_callbacks(cfg.lr_schedule)
    if cfg.early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=cfg.early_stopping.patience,
                min_delta=cfg.early_stopping.min_delta,
                restore_best_weights=True,
            )
        )
    return callbacks
