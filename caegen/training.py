"""`caegen train`: real data, a tf.data pipeline, and a run directory people can read."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from caegen.compiler import Report, check
from caegen.data import DataSplits, load_data, unavailable
from caegen.diagnostics import CaegenError, error
from caegen.fsutil import atomic_write_text
from caegen.rundir import (
    CHECKPOINT,
    STATE,
    new_run_dir,
    read_history,
    resolve_run_dir,
    save_keras_atomic,
    write_history,
    write_run_spec,
)
from caegen.spec import Spec


class Progress(Protocol):
    """What the trainer reports while it runs (the CLI renders it with rich)."""

    def start(self, info: dict[str, Any]) -> None: ...
    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None: ...
    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None: ...


class _Silent:
    def start(self, info: dict[str, Any]) -> None:
        pass

    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None:
        pass

    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None:
        pass


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


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


# --- Keras pieces -------------------------------------------------------------------------
def _toggle(value: str, gpu: bool) -> bool:
    return gpu if value == "auto" else value == "on"


def make_optimizer(spec: Spec) -> Any:
    import keras

    opt = spec.train.optimizer
    args = opt.model_dump(exclude={"name"})
    cls = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }[opt.name]
    return cls(**args)


def make_loss(spec: Spec) -> Any:
    import keras

    return {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "bce": keras.losses.BinaryCrossentropy,
    }[spec.train.loss]()


def _run_callback(
    run_dir: Path,
    history: list[dict[str, Any]],
    progress: Progress,
    epochs: int,
    images_per_epoch: int,
    steps: int,
    interrupt: Interrupt,
) -> Any:
    import keras

    class RunCallback(keras.callbacks.Callback):
        """Checkpoints each good epoch atomically, records history, stops on NaN."""

        def __init__(self) -> None:
            super().__init__()
            self.diverged_at: int | None = None
            self.epoch_start = 0.0
            self.current_epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            interrupt.raise_if_requested()
            self.epoch_start = time.perf_counter()
            self.current_epoch = epoch

        def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            interrupt.raise_if_requested()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            interrupt.raise_if_requested()
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
            row = {
                "epoch": epoch + 1,
                "loss": float(losses[0]),
                "val_loss": float(losses[1]),
                "images_per_s": images_per_epoch / seconds,
                "seconds": seconds,
            }
            history.append(row)
            save_keras_atomic(self.model, run_dir / CHECKPOINT)
            atomic_write_text(run_dir / STATE, json.dumps({"epoch": epoch + 1}))
            write_history(run_dir, history)
            # the first epoch traces and compiles: leave it out of the estimate when we can
            recent = [r["seconds"] for r in history[1:]] or [seconds]
            progress.epoch(row, epochs, float(np.median(recent)) * (epochs - epoch - 1))

    return RunCallback()


# --- training -----------------------------------------------------------------------------
def train(
    spec: Spec | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    out: str | Path = "runs",
    resume: str | Path | None = None,
    seed: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Train a spec on its data and write a run directory; or continue a run (`resume`)."""
    progress = progress or _Silent()
    run_dir, spec, initial_epoch, history = _prepare(spec, resume)
    train_cfg = spec.train.model_copy(
        update={
            k: v
            for k, v in {"epochs": epochs, "batch_size": batch_size, "seed": seed}.items()
            if v is not None
        }
    )
    update: dict[str, Any] = {"train": train_cfg}
    if limit is not None:  # recorded in the run's spec, so that --resume sees the same data
        update["data"] = spec.data.model_copy(update={"limit": limit})
    spec = spec.model_copy(update=update)
    finished = run_dir is not None and (run_dir / "metrics.json").exists()
    if finished and initial_epoch >= train_cfg.epochs:
        raise error(
            "E058",
            f"{run_dir} has finished {initial_epoch} epoch(s); nothing to resume",
            f"pass --epochs N with N > {initial_epoch} to train it further",
        )
    report = check(spec)
    if not report.ok:
        raise CaegenError(report.errors)
    data = load_data(spec, limit)  # before any run directory exists: a data error leaves none
    if run_dir is None:
        run_dir = new_run_dir(Path(out), spec.name)
        write_run_spec(run_dir, spec)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(spec.train.seed)
    gpus = tf.config.list_physical_devices("GPU")
    mixed = _toggle(spec.train.mixed_precision, bool(gpus))
    jit = _toggle(spec.train.jit_compile, bool(gpus))
    previous_policy = keras.mixed_precision.global_policy()
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return _fit(
            spec,
            report,
            data,
            run_dir,
            initial_epoch,
            history,
            progress,
            gpus=len(gpus),
            mixed=mixed,
            jit=jit,
        )
    except tf.errors.InvalidArgumentError as exc:
        if data.train.files is None:
            raise
        # a file with an image signature but a damaged body, met while streaming
        detail = _decode_failure(str(exc.message))
        raise unavailable(
            f"an image under {spec.data.path} could not be decoded: {detail}",
            "find it with an image viewer or PIL's Image.verify(), then remove or re-save it",
        ) from None
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _decode_failure(message: str) -> str:
    """TensorFlow's reason from a failed input pipeline, e.g. "Invalid PNG data, size 60"."""
    for line in message.splitlines():
        if line.startswith("Error in user-defined function"):
            return line.rsplit(": ", 1)[-1]
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


def _prepare(
    spec: Spec | None, resume: str | Path | None
) -> tuple[Path | None, Spec, int, list[dict[str, Any]]]:
    """The run to continue (directory, spec, epochs done, history); no directory if new."""
    from caegen.loader import load

    if resume is None:
        if spec is None:
            raise error("E052", "nothing to train", "pass a spec, or --resume RUN_DIR")
        return None, spec, 0, []
    run_dir = resolve_run_dir(Path(resume))
    if not (run_dir / CHECKPOINT).exists() or not (run_dir / STATE).exists():
        raise error(
            "E052",
            f"{run_dir} has no checkpoint to resume from",
            "a run can be resumed once it has finished at least one epoch",
        )
    run_spec = load(run_dir / "spec.yaml")
    if spec is not None and _architecture(spec) != _architecture(run_spec):
        raise error(
            "E052",
            f"the spec {spec.name} differs from the one {run_dir} was trained with",
            "resume with the run's own spec (omit SPEC)",
        )
    state = json.loads((run_dir / STATE).read_text())
    return run_dir, run_spec, int(state["epoch"]), read_history(run_dir)


def _architecture(spec: Spec) -> Any:
    data = spec.resolved()
    data["data"].pop("limit", None)  # --limit may differ between a run and its resumption
    return (data["input"], data["encoder"], data["decoder"], data["data"])


def _fit(
    spec: Spec,
    report: Report,
    data: DataSplits,
    run_dir: Path,
    initial_epoch: int,
    history: list[dict[str, Any]],
    progress: Progress,
    *,
    gpus: int,
    mixed: bool,
    jit: bool,
) -> RunResult:
    import keras
    import tensorflow as tf

    from caegen.keras_backend import build, split_models
    from caegen.pipeline import evaluation_arrays, training_dataset

    cfg = spec.train
    strategy = tf.distribute.MirroredStrategy() if gpus > 1 else tf.distribute.get_strategy()
    with strategy.scope():
        if initial_epoch:
            model = keras.saving.load_model(run_dir / CHECKPOINT, safe_mode=True)
        else:
            model = build(spec, report=report, float32_output=mixed).autoencoder
            model.compile(optimizer=make_optimizer(spec), loss=make_loss(spec), jit_compile=jit)

    n_train = len(data.train)
    steps = max(1, math.ceil(n_train / cfg.batch_size))
    train_ds = training_dataset(data.train, spec, cfg.batch_size, cfg.seed)
    val_in, val_target = evaluation_arrays(data.test, spec, seed=cfg.seed + 1)
    val_ds = (
        tf.data.Dataset.from_tensor_slices((val_in, val_target))
        .batch(cfg.batch_size)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )

    # the training stream repeats, so every step is a full batch
    interrupt = Interrupt()
    run_cb = _run_callback(
        run_dir, history, progress, cfg.epochs, steps * cfg.batch_size, steps, interrupt
    )
    callbacks = [
        run_cb,
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False),
    ]
    if cfg.early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=cfg.early_stopping.patience,
                min_delta=cfg.early_stopping.min_delta,
                restore_best_weights=True,
            )
        )
    progress.start(
        {
            "run_dir": str(run_dir),
            "train_images": n_train,
            "test_images": len(data.test),
            "data": data.description,
            "initial_epoch": initial_epoch,
            "epochs": cfg.epochs,
            "device": f"{gpus} GPU(s)" if gpus else "CPU",
            "mixed_precision": mixed,
            "jit_compile": jit,
            "params": report.params.total,
        }
    )
    started = time.perf_counter()
    if initial_epoch < cfg.epochs:
        with interrupt.installed():
            model.fit(
                train_ds,
                epochs=cfg.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_data=val_ds,
                callbacks=callbacks,
                shuffle=False,
                verbose=0,
            )  # the dataset shuffles itself
    if run_cb.diverged_at is not None:
        raise error(
            "E055",
            f"the loss became NaN or infinite in epoch {run_cb.diverged_at}; training stopped "
            f"and {run_dir / CHECKPOINT} keeps the last good epoch",
            "lower train.optimizer.learning_rate, check the data range against the loss, "
            "or add batch_norm",
        )

    encoder, decoder, _ = split_models(model, report)
    save_keras_atomic(model, run_dir / "model.keras")
    save_keras_atomic(encoder, run_dir / "encoder.keras")
    if decoder is not None:
        save_keras_atomic(decoder, run_dir / "decoder.keras")
    metrics = _evaluate(spec, model, data, val_in, val_target)
    metrics.update(
        {
            "spec": spec.name,
            "spec_hash": spec.spec_hash(),
            "epochs": len(history),
            "train_images": n_train,
            "train_seconds": round(time.perf_counter() - started, 2),
            "images_per_s": float(np.median([r["images_per_s"] for r in history]))
            if history
            else None,
            "device": "GPU" if gpus else "CPU",
            "mixed_precision": mixed,
            "jit_compile": jit,
        }
    )
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    _figures(spec, model, run_dir, history, val_in, val_target)
    return RunResult(run_dir, metrics, history)


def _evaluate(
    spec: Spec, model: Any, data: DataSplits, test_in: np.ndarray, test_target: np.ndarray
) -> dict[str, Any]:
    from caegen.metrics import reconstruction_metrics
    from caegen.pipeline import evaluation_arrays

    recon = model.predict(test_in, batch_size=256, verbose=0).astype(np.float32)
    train_clean = evaluation_arrays(data.train, spec, seed=0, limit=5000)[1]
    data_range = 2.0 if spec.data.range == "symmetric" else 1.0
    noisy = test_in if spec.data.noise is not None else None
    return reconstruction_metrics(test_target, recon, data_range, noisy, train_clean.mean(axis=0))


def _figures(
    spec: Spec,
    model: Any,
    run_dir: Path,
    history: list[dict[str, Any]],
    test_in: np.ndarray,
    test_target: np.ndarray,
) -> None:
    from caegen.plots import loss_plot, reconstruction_grid

    loss_plot(history, run_dir / "loss.png", f"{spec.name}: {spec.train.loss} loss")
    picks = np.linspace(0, len(test_in) - 1, min(8, len(test_in))).astype(int)  # spread out
    x = test_in[picks]
    recon = model.predict(x, verbose=0)
    rows = (
        [("noisy", x), ("denoised", recon), ("clean", test_target[picks])]
        if spec.data.noise is not None
        else [("input", x), ("reconstruction", recon)]
    )
    reconstruction_grid(rows, run_dir / "reconstructions.png", spec.data.range)
