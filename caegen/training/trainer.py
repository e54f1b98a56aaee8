"""`caegen train`: the fitting loop. The run directory and its files belong to `rundir`."""

from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from caegen.compile.compiler import Report, check
from caegen.core.diagnostics import CaegenError, error
from caegen.spec.optimizers import make_optimizer, schedule_callbacks
from caegen.spec.schema import Spec
from caegen.training.data import DataSplits, load_data
from caegen.training.rundir import DIVERGED, FAILED, FINISHED, INTERRUPTED, RUNNING, Checkpoint, Run

if TYPE_CHECKING:
    from caegen.training.distribute import Resolved


class Progress(Protocol):
    """What the trainer reports while it runs (the CLI renders it with rich)."""

    def start(self, info: dict[str, Any]) -> None: ...
    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None: ...
    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None: ...
    def warn(self, message: str) -> None: ...


class SilentProgress:
    def start(self, info: dict[str, Any]) -> None:
        pass

    def batch(self, epoch: int, step: int, steps: int, loss: float) -> None:
        pass

    def epoch(self, row: dict[str, Any], epochs: int, eta_s: float) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    weights_sha256: str | None = None
    """A digest of the trained weights: equal on every worker of a multi-worker job."""


def weights_sha256(model: Any) -> str:
    digest = hashlib.sha256()
    for value in model.get_weights():
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run: `epoch` epochs are checkpointed in `run_dir` (0: none)."""

    def __init__(self, run_dir: Path, epoch: int) -> None:
        super().__init__(f"{run_dir} interrupted after epoch {epoch}")
        self.run_dir = run_dir
        self.epoch = epoch


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


# --- Keras pieces -------------------------------------------------------------------------
def make_loss(spec: Spec) -> Any:
    import keras

    if spec.train.loss == "ssim":
        from caegen.training.losses import SSIMLoss, data_range_width

        return SSIMLoss(data_range_width(spec.data.range))
    return {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "bce": keras.losses.BinaryCrossentropy,
    }[spec.train.loss]()


def reconstruction_metric(spec: Spec) -> Any:
    """The loss function as a metric: the reconstruction error without any penalty."""
    import keras

    if spec.train.loss == "ssim":
        from caegen.training.losses import SSIMError, data_range_width

        return SSIMError(data_range_width(spec.data.range))
    return {
        "mse": keras.metrics.MeanSquaredError,
        "mae": keras.metrics.MeanAbsoluteError,
        "bce": keras.metrics.BinaryCrossentropy,
    }[spec.train.loss](name="reconstruction_error")


def reseed_layers(model: Any, seed: int, epoch: int) -> None:
    """Key the random layers (dropout, gaussian_noise) by (seed, layer, epoch).

    Keras layers draw from a SeedGenerator whose state is a [seed, counter] variable that
    a saved model does not keep; setting it at each epoch start makes the masks a function
    of (seed, layer, epoch, step) alone, so a resumed run draws what the original drew.
    """
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for index, state in enumerate(states):
        state.assign(np.array([seed + 7919 * index, epoch << 20], dtype=state.dtype))


def _run_callback(
    run: Run,
    history: list[dict[str, Any]],
    progress: Progress,
    epochs: int,
    images_per_epoch: int,
    steps: int,
    seed: int,
    interrupt: Interrupt | None,
) -> Any:
    """`interrupt`: raise at the next batch on Ctrl-C (None: the loop stops by itself)."""
    import keras

    def stop_if_asked() -> None:
        if interrupt is not None:
            interrupt.raise_if_requested()

    class RunCallback(keras.callbacks.Callback):
        """Checkpoints each good epoch, records history and status, stops on NaN."""

        def __init__(self) -> None:
            super().__init__()
            self.diverged_at: int | None = None
            self.epoch_start = 0.0
            self.current_epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            stop_if_asked()
            reseed_layers(self.model, seed, epoch)
            self.epoch_start = time.perf_counter()
            self.current_epoch = epoch

        def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            stop_if_asked()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            stop_if_asked()
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
                "reconstruction_error": _float(logs.get("reconstruction_error")),
                "val_reconstruction_error": _float(logs.get("val_reconstruction_error")),
                "kl": _float(logs.get("kl")),
                "val_kl": _float(logs.get("val_kl")),
                "images_per_s": images_per_epoch / seconds,
                "seconds": seconds,
            }
            history.append(row)
            # history first: a crash before the checkpoint lands costs this row, not a gap
            run.write_history(history)
            run.save_checkpoint(self.model, epoch + 1)
            run.mark(RUNNING, epoch + 1)
            # the first epoch traces and compiles: leave it out of the estimate when we can
            recent = [r["seconds"] for r in history[1:]] or [seconds]
            progress.epoch(row, epochs, float(np.median(recent)) * (epochs - epoch - 1))

    return RunCallback()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# --- what to train ------------------------------------------------------------------------
@dataclass
class Plan:
    """A run to train: the directory, its spec, and where training starts."""

    run: Run
    spec: Spec
    report: Report
    data: DataSplits
    checkpoint: Checkpoint | None
    history: list[dict[str, Any]]
    batch_size: int
    strategy: str = "auto"

    @property
    def initial_epoch(self) -> int:
        return self.checkpoint.epoch if self.checkpoint else 0


def train(
    spec: Spec | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    out: str | Path = "runs",
    resume: str | Path | None = None,
    seed: int | None = None,
    limit: int | None = None,
    eval_limit: int | None = None,
    progress: Progress | None = None,
    strategy: str = "auto",
) -> RunResult:
    """Train a spec on its data and write a run directory; or continue a run (`resume`).

    Under a multi-worker strategy (TF_CONFIG) every worker calls this: the chief writes
    the run directory (continuing this job's unfinished run when there is one), the other
    workers a temporary one that is removed at the end."""
    from caegen.training.distribute import worker_cluster

    progress = progress or SilentProgress()
    overrides = {"epochs": epochs, "batch_size": batch_size, "seed": seed}
    data_overrides = {"limit": limit, "eval_limit": eval_limit}
    cluster = worker_cluster(strategy)
    if cluster is not None and resume is not None:
        raise error(
            "E068",
            "--resume does not combine with a multi-worker job: every worker would claim the run",
            "start the job again with the same command (without --resume): the chief "
            "continues its unfinished run",
        )
    if cluster is not None and spec is not None:
        return _train_as_worker(cluster, spec, overrides, data_overrides, Path(out), progress)
    if resume is None:
        if spec is None:
            raise error("E052", "nothing to train", "pass a spec, or --resume RUN_DIR")
        spec, report, data, batch = _prepare_new(spec, overrides, data_overrides, out, progress)
        run = Run.create(Path(out), spec)
        plan = Plan(run, spec, report, data, None, [], batch, strategy)
    else:
        plan = _resume_plan(Path(resume), spec, overrides, data_overrides, Path(out), progress)
        plan.strategy = strategy
    return _train(plan, progress)


def _train_as_worker(
    cluster: Any,
    spec: Spec,
    overrides: dict[str, Any],
    data_overrides: dict[str, Any],
    out: Path,
    progress: Progress,
) -> RunResult:
    """One worker of a multi-worker job: the chief continues or creates the job's run."""
    import shutil
    import tempfile

    job = cluster.job_id(_with_overrides(spec, overrides, data_overrides).spec_hash())
    if cluster.index == 0:
        unfinished = Run.unfinished_job(out / spec.name, job)
        if unfinished is not None:
            plan = _resume_plan(unfinished.path, None, overrides, data_overrides, out, progress)
            plan.strategy = "multi-worker"
            return _train(plan, progress)
        spec, report, data, batch = _prepare_new(spec, overrides, data_overrides, out, progress)
        run = Run.create(out, spec, job=job)
        return _train(Plan(run, spec, report, data, None, [], batch, "multi-worker"), progress)
    scratch = Path(tempfile.mkdtemp(prefix=f"caegen-worker{cluster.index}-"))
    try:
        spec, report, data, batch = _prepare_new(spec, overrides, data_overrides, out, progress)
        run = Run.create(scratch, spec, job=job)
        return _train(Plan(run, spec, report, data, None, [], batch, "multi-worker"), progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def dry_run(
    spec: Spec,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    out: str | Path = "runs",
    seed: int | None = None,
    limit: int | None = None,
    eval_limit: int | None = None,
    progress: Progress | None = None,
    strategy: str = "auto",
) -> dict[str, Any]:
    """What `train` would do, checked as far as it can be without training: the spec, the
    data, the batch, memory, and the resolved strategy. Writes nothing."""
    from caegen.training.distribute import resolve

    spec, report, data, batch = _prepare_new(
        spec,
        {"epochs": epochs, "batch_size": batch_size, "seed": seed},
        {"limit": limit, "eval_limit": eval_limit},
        out,
        progress or SilentProgress(),
    )
    resolved = resolve(spec, batch, strategy, for_training=False)
    return {
        "spec": spec.name,
        "data": data.description,
        "train_images": len(data.train),
        "test_images": len(_evaluation_split(data, spec)),
        "epochs": spec.train.epochs,
        "steps_per_epoch": resolved.steps_per_epoch(len(data.train)),
        "params": report.params.total,
        **resolved.to_dict(),
    }


def _prepare_new(
    spec: Spec,
    train: dict[str, Any],
    data: dict[str, Any],
    out: str | Path,
    progress: Progress,
) -> tuple[Spec, Report, DataSplits, int]:
    """A new run's spec, report, data and batch, all checked before a run directory exists
    (an error leaves none)."""
    from caegen.compile.memory import check_training_memory

    spec = _with_overrides(spec, train, data)
    report = _checked(spec)
    check_training_memory(report, 1, spec.train.optimizer.name)  # before any data is read
    splits = load_data(spec, output_root=Path(out))
    return spec, report, splits, _batch_size(spec, report, len(splits.train), progress)


def _with_overrides(spec: Spec, train: dict[str, Any], data: dict[str, Any]) -> Spec:
    train_update = {k: v for k, v in train.items() if v is not None}
    data_update = {k: v for k, v in data.items() if v is not None}
    return Spec.model_validate(
        {
            **spec.resolved(),
            "train": {**spec.train.model_dump(mode="json"), **train_update},
            "data": {**spec.data.model_dump(mode="json", exclude_none=True), **data_update},
        }
    )


def _checked(spec: Spec) -> Report:
    report = check(spec)
    if not report.ok:
        raise CaegenError(report.errors)
    return report


def _resume_plan(
    path: Path,
    spec: Spec | None,
    train: dict[str, Any],
    data: dict[str, Any],
    out: Path,
    progress: Progress,
) -> Plan:
    run = Run.find(path, purpose="resume")
    recorded = run.spec
    _refuse_changes(run, recorded, spec, train, data)
    target = train["epochs"] or recorded.train.epochs
    status = run.status()
    run.claim()  # E060 when a live process trains it
    try:
        checkpoint = run.checkpoint()
        done = checkpoint.epoch
        finished = status.state == FINISHED and done == status.epoch
        if done > target or (finished and done >= target):
            raise error(
                "E058",
                f"{run.path} has trained {done} epoch(s) already"
                + (" and finished" if finished else "")
                + f"; --epochs {target} asks for no more",
                f"pass --epochs N with N > {done} to train it further",
            )
        for warning in checkpoint.warnings:
            progress.warn(warning)
        history = [row for row in run.history() if row["epoch"] <= done]
        if len(history) != done:
            progress.warn(
                f"history.csv holds {len(history)} of the {done} checkpointed epochs' rows"
            )
        resumed = recorded.model_copy(
            update={"train": recorded.train.model_copy(update={"epochs": target})}
        )
        report = _checked(resumed)
        loaded = load_data(resumed, output_root=out)
        batch = _batch_size(resumed, report, len(loaded.train), progress)
    except BaseException:
        run.release()
        run.mark(status.state if status.state != "killed" else INTERRUPTED, status.epoch)
        raise
    return Plan(run, resumed, report, loaded, checkpoint, history, batch)


def _batch_size(spec: Spec, report: Report, n_train: int, progress: Progress) -> int:
    """The batch actually used: at most the training images, and one that fits in memory."""
    from caegen.compile.memory import check_training_memory

    batch_size = spec.train.batch_size
    if batch_size > n_train:
        progress.warn(
            f"batch size {batch_size:,} is larger than the {n_train:,} training images: each "
            f"step uses all {n_train:,} (no image is repeated to fill a batch)"
        )
        batch_size = n_train
    check_training_memory(report, batch_size, spec.train.optimizer.name)
    return batch_size


def _refuse_changes(
    run: Run, recorded: Spec, spec: Spec | None, train: dict[str, Any], data: dict[str, Any]
) -> None:
    """A resumed run trains on what it was started with: anything else is E061."""
    differences: list[str] = []
    if spec is not None:
        mine, theirs = _flat(spec.resolved()), _flat(recorded.resolved())
        ignored = {"train.epochs", "data.limit", "data.eval_limit"}
        differences += [
            f"{key}: {theirs.get(key, '(unset)')} in the run, {mine.get(key, '(unset)')} in "
            f"{spec.name}"
            for key in sorted(set(mine) | set(theirs))
            if key not in ignored and mine.get(key) != theirs.get(key)
        ]
    for section, values in (("train", train), ("data", data)):
        for key, value in values.items():
            if key == "epochs" or value is None:
                continue
            current = getattr(getattr(recorded, section), key)
            if value != current:
                differences.append(f"{section}.{key}: {current} in the run, {value} given")
    if differences:
        raise error(
            "E061",
            f"{run.path} was trained with other settings: " + "; ".join(differences[:6]),
            "resume with only --epochs (the run keeps its own spec, data and seed), or start "
            "a new run with `caegen train SPEC`",
        )


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list) and data and isinstance(data[0], dict):
        out = {}
        for i, value in enumerate(data):
            out.update(_flat(value, f"{prefix[:-1]}[{i}]."))
        return out
    return {prefix[:-1]: data}


# --- training -----------------------------------------------------------------------------
def _train(plan: Plan, progress: Progress) -> RunResult:
    """Fit, record how the run ended in its status, and release it."""
    run = plan.run
    try:
        result = _fit_and_finish(plan, progress)
    except KeyboardInterrupt:
        epoch = _done(run)
        run.mark(INTERRUPTED, epoch, "Ctrl-C")
        raise RunInterrupted(run.path, epoch) from None
    except Diverged as exc:
        epoch = _done(run)
        run.mark(DIVERGED, epoch, f"the loss became NaN or infinite in epoch {exc.epoch}")
        kept = (
            f"{run.path / 'checkpoints'} keeps epoch {epoch}, the last good one"
            if epoch
            else "no epoch finished, so nothing was kept"
        )
        raise error(
            "E055",
            f"the loss became NaN or infinite in epoch {exc.epoch}; training stopped and {kept}",
            "lower train.optimizer.learning_rate, check the data range against the loss, "
            "or add batch_norm",
        ) from None
    except CaegenError as exc:
        run.mark(FAILED, _done(run), f"{exc.diagnostics[0].code}: {exc.diagnostics[0].message}")
        raise
    except BaseException as exc:
        run.mark(FAILED, _done(run), f"{type(exc).__name__}: {_first_line(exc)}")
        raise _tensorflow_failure(exc, run) from None
    finally:
        run.release()
    run.mark(FINISHED, len(result.history))
    return result


def _done(run: Run) -> int:
    try:
        return run.checkpoint().epoch
    except CaegenError:
        return 0


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _tensorflow_failure(exc: BaseException, run: Run) -> BaseException:
    """TensorFlow's own errors become E062 (the run is marked failed); others stay bugs."""
    import tensorflow as tf

    if isinstance(exc, tf.errors.ResourceExhaustedError):
        return error(
            "E062",
            f"out of memory while training {run.path}: {_first_line(exc)}",
            "lower train.batch_size, or use a smaller input or fewer filters",
        )
    if isinstance(exc, tf.errors.UnavailableError | tf.errors.CancelledError):
        return error(
            "E062",
            f"a worker of the job stopped answering while training {run.path}: "
            f"{_first_line(exc)[:160]}",
            "start the job again with the same command: it continues from the last finished epoch",
        )
    if isinstance(exc, tf.errors.OpError):
        return error(
            "E062",
            f"TensorFlow stopped training {run.path}: {_first_line(exc)}",
            "see the message: a layer this machine has no kernel for (W109) or damaged data; "
            "the run is marked failed",
        )
    return exc


def _fit_and_finish(plan: Plan, progress: Progress) -> RunResult:
    import keras
    import tensorflow as tf

    from caegen.training.distribute import resolve

    spec = plan.spec
    resolved = resolve(spec, plan.batch_size, plan.strategy)  # first: it may start TensorFlow
    keras.utils.set_random_seed(spec.train.seed)
    previous_policy = keras.mixed_precision.global_policy()
    if resolved.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return _fit(plan, progress, resolved)
    except tf.errors.InvalidArgumentError as exc:
        if plan.data.train.files is None:
            raise
        # a file with an image signature but a damaged body, met while streaming
        from caegen.training.pipeline import undecodable

        files = (plan.data.train.files or []) + (plan.data.test.files or [])
        raise undecodable(exc, spec, files) from None
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _compiled_model(spec: Spec, report: Report, resolved: Resolved, steps: int) -> Any:
    """The autoencoder, built and compiled as the spec says (in the current strategy)."""
    from caegen.emit.keras_model import build

    cfg = spec.train
    model = build(spec, report=report, float32_output=resolved.mixed_precision).autoencoder
    model.compile(
        optimizer=make_optimizer(cfg.optimizer, cfg.lr_schedule, cfg.epochs, steps),
        loss=make_loss(spec),
        loss_weights=_vae_loss_weight(spec, report),
        metrics=[reconstruction_metric(spec)],
        jit_compile=resolved.jit_compile,
    )
    return model


def _vae_loss_weight(spec: Spec, report: Report) -> float | None:
    """A VAE's reconstruction term is summed over the pixels of each image (None: other
    autoencoders average it)."""
    from caegen.compile.passes.variational import is_variational

    return float(np.prod(spec.input)) if is_variational(report.graph) else None


def _fit(plan: Plan, progress: Progress, resolved: Resolved) -> RunResult:
    import keras

    from caegen.compile.passes.variational import is_variational
    from caegen.emit.keras_model import split_models
    from caegen.training.distribute import make_strategy, replica_sync_callback
    from caegen.training.pipeline import evaluation_arrays, evaluation_dataset, training_dataset
    from caegen.training.tensorboard import fixed_images, image_callback, write_hparams
    from caegen.training.variational import kl_schedule

    spec, run, data, report = plan.spec, plan.run, plan.data, plan.report
    cfg = spec.train
    variational = is_variational(report.graph)
    n_train = len(data.train)
    batch_size = plan.batch_size
    test = _evaluation_split(data, spec)
    shard = resolved.shard()
    steps = resolved.steps_per_epoch(n_train)
    mixed, jit, gpus = resolved.mixed_precision, resolved.jit_compile, resolved.gpus
    strategy = make_strategy(resolved)
    with strategy.scope():
        if plan.checkpoint is not None and not resolved.multi_worker:
            model = run.load_checkpoint(plan.checkpoint)
        else:
            # under a multi-worker strategy every worker creates the same variables in the
            # same order (each creation is a collective broadcast from the chief)
            model = _compiled_model(spec, report, resolved, steps)
    initial_epoch = plan.initial_epoch
    loop = None
    if resolved.multi_worker:
        from caegen.training import multiworker

        loop = multiworker.Loop(model, strategy, spec, _vae_loss_weight(spec, report) or 1.0)
        if plan.checkpoint is not None:  # the chief continues the job's run
            multiworker.copy_state(run.load_checkpoint(plan.checkpoint), model)
        # the chief's weights and optimizer state on every worker, and its epoch
        multiworker.broadcast_from_chief(strategy, model.variables + model.optimizer.variables)
        initial_epoch = int(multiworker.agreed(strategy, plan.initial_epoch))

    history = list(plan.history)
    interrupt = Interrupt()
    run_cb = _run_callback(
        run,
        history,
        progress,
        cfg.epochs,
        n_train,
        steps,
        cfg.seed,
        None if resolved.multi_worker else interrupt,
    )
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
    progress.start(
        {
            "run_dir": str(run.path),
            "train_images": n_train,
            "test_images": len(test),
            "data": data.description,
            "initial_epoch": initial_epoch,
            "epochs": cfg.epochs,
            "device": f"{gpus} GPU(s)" if gpus else "CPU",
            "strategy": resolved.strategy,
            "workers": resolved.workers,
            "mixed_precision": mixed,
            "jit_compile": jit,
            "params": report.params.total,
        }
    )

    def train_batches() -> Any:  # the dataset orders each epoch itself, keyed by (seed, epoch)
        return training_dataset(
            data.train, spec, batch_size, cfg.seed, initial_epoch, cfg.epochs, shard
        )

    def val_batches() -> Any:
        ds = evaluation_dataset(test, spec, batch_size, seed=cfg.seed + 1, cache=True)
        return shard.apply(ds) if shard else ds

    started = time.perf_counter()
    if initial_epoch < cfg.epochs:
        with interrupt.installed():
            if loop is None:
                model.fit(
                    train_batches(),
                    epochs=cfg.epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=steps,
                    validation_data=val_batches(),
                    callbacks=callbacks,
                    shuffle=False,
                    verbose=0,
                )
            else:
                from caegen.training.multiworker import fit as fit_multi_worker

                val_steps = resolved.steps_per_epoch(len(test))
                fit_multi_worker(
                    loop,
                    strategy,
                    train_batches,
                    val_batches,
                    steps,
                    val_steps,
                    callbacks,
                    initial_epoch,
                    cfg.epochs,
                    lambda: interrupt.requested,
                )
    if run_cb.diverged_at is not None:
        raise Diverged(run_cb.diverged_at)
    digest = weights_sha256(model)
    if resolved.multi_worker:
        if not resolved.is_chief:
            return RunResult(run.path, {}, history, digest)  # scoring and models: the chief's
        # scored and saved as a plain single-device model (no distributed variables)
        trained = model
        model = _compiled_model(spec, report, resolved, steps)
        model.set_weights(trained.get_weights())

    encoder, decoder, _ = split_models(model, report)
    run.save_models({"autoencoder": model, "encoder": encoder, "decoder": decoder})
    metrics = evaluate(spec, model, data, test)
    if variational:
        from caegen.training.variational import test_elbo

        eval_ds = evaluation_dataset(test, spec, batch_size, seed=cfg.seed + 1)
        metrics.update(test_elbo(model, eval_ds, int(np.prod(spec.input))))
        metrics["kl_weight"] = cfg.kl_weight
    metrics.update(
        {
            "spec": spec.name,
            "spec_hash": spec.spec_hash(),
            "epochs": len(history),
            "train_images": n_train,
            "test_split_images": len(data.test),
            "train_seconds": round(time.perf_counter() - started, 2),
            "images_per_s": float(np.median([r["images_per_s"] for r in history]))
            if history
            else None,
            "device": "GPU" if gpus else "CPU",
            "strategy": resolved.strategy,
            "replicas": resolved.replicas,
            "workers": resolved.workers,
            "mixed_precision": mixed,
            "jit_compile": jit,
            "weights_sha256": digest,
        }
    )
    run.write_metrics(metrics)
    write_hparams(run.path, spec, report, metrics)
    _figures(spec, model, run.path, history, test)
    return RunResult(run.path, metrics, history, digest)


def _evaluation_split(data: DataSplits, spec: Spec) -> Any:
    """The test split, or its first `data.eval_limit` images when the spec asks for fewer."""
    limit = spec.data.eval_limit
    return data.test.head(limit) if limit else data.test


def evaluate(spec: Spec, model: Any, data: DataSplits, test: Any, batch_size: int = 256) -> dict:
    """Metrics over every image of `test`, batch by batch (bounded memory)."""
    from caegen.training.metrics import ReconstructionScore
    from caegen.training.pipeline import evaluation_dataset

    data_range = 2.0 if spec.data.range == "symmetric" else 1.0
    score = ReconstructionScore(
        data_range, _train_mean(spec, data), denoising=spec.data.noise is not None
    )
    infer = inference_function(model, spec)
    for x, clean in evaluation_dataset(test, spec, batch_size, seed=spec.train.seed + 1):
        recon = np.asarray(infer(x), dtype=np.float32)
        score.update(clean.numpy(), recon, x.numpy())
    return score.result()


def inference_function(model: Any, spec: Spec) -> Any:
    """model(x, training=False) traced once for any batch size."""
    import tensorflow as tf

    signature = tf.TensorSpec((None, *spec.input), tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=(signature,))


def _train_mean(spec: Spec, data: DataSplits, files_cap: int = 5000) -> np.ndarray:
    """The mean training image in the spec's range (of the first 5,000 when streamed)."""
    from caegen.training.pipeline import evaluation_dataset, to_range

    if data.train.array is not None:
        return to_range(data.train.array.mean(axis=0, dtype=np.float64), spec.data.range)
    total, count = 0.0, 0
    for _, clean in evaluation_dataset(data.train.head(files_cap), spec, 256, seed=0):
        total = total + clean.numpy().sum(axis=0, dtype=np.float64)
        count += len(clean)
    return total / max(count, 1)


def _figures(
    spec: Spec, model: Any, run_dir: Path, history: list[dict[str, Any]], test: Any
) -> None:
    from caegen.training.pipeline import evaluation_arrays, spread
    from caegen.training.plots import loss_plot, reconstruction_grid

    loss_plot(history, run_dir / "loss.png", f"{spec.name}: {spec.train.loss} loss")
    x, clean = evaluation_arrays(test, spec, seed=spec.train.seed + 1, indices=spread(len(test), 8))
    recon = model.predict(x, verbose=0)
    rows = (
        [("noisy", x), ("denoised", recon), ("clean", clean)]
        if spec.data.noise is not None
        else [("input", x), ("reconstruction", recon)]
    )
    reconstruction_grid(rows, run_dir / "reconstructions.png", spec.data.range)
