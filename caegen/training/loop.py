"""The fitting loop: a planned run's model built in its strategy, fitted epoch by epoch
(Keras's `fit`, or the custom multi-worker step), then scored and saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from caegen.training.callbacks import Diverged, Interrupt, run_callback, run_callbacks
from caegen.training.evaluate import evaluation_split, score
from caegen.training.metrics import ReconstructionScore
from caegen.training.model import compiled_model, vae_loss_weight, weights_sha256
from caegen.training.options import Progress, RunResult
from caegen.training.plan import Plan

if TYPE_CHECKING:
    from caegen.training.distribute import Resolved


@dataclass
class Fitting:
    """What one fit needs besides the plan: the model in its strategy and where it starts."""

    model: Any
    strategy: Any
    steps: int
    initial_epoch: int
    multi_worker_loop: Any = None


def fit_and_finish(plan: Plan, progress: Progress) -> RunResult:
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


def _fit(plan: Plan, progress: Progress, resolved: Resolved) -> RunResult:
    from caegen.compile.passes.variational import is_variational

    variational = is_variational(plan.report.graph)
    test = evaluation_split(plan.data, plan.spec)
    fitting = _model_in_strategy(plan, resolved)
    history = list(plan.history)
    interrupt = Interrupt()
    run_cb = run_callback(
        plan, history, progress, fitting.steps, None if resolved.multi_worker else interrupt
    )
    callbacks = run_callbacks(plan, resolved, fitting.strategy, run_cb, test, variational)
    progress.start(_start_info(plan, resolved, fitting, len(test)))
    if fitting.initial_epoch < plan.spec.train.epochs:
        with interrupt.installed():
            _run_epochs(plan, resolved, fitting, test, callbacks, interrupt)
    if run_cb.diverged_at is not None:
        raise Diverged(run_cb.diverged_at)
    model, digest = fitting.model, weights_sha256(fitting.model)
    if resolved.multi_worker:
        if not resolved.is_chief:
            return RunResult(plan.run.path, {}, history, digest)  # scoring and models: chief's
        # scored and saved as a plain single-device model (no distributed variables)
        model = compiled_model(plan.spec, plan.report, resolved, fitting.steps)
        model.set_weights(fitting.model.get_weights())
    metrics = _finish(plan, model, history, test, resolved, digest, variational)
    return RunResult(plan.run.path, metrics, history, digest)


def _model_in_strategy(plan: Plan, resolved: Resolved) -> Fitting:
    """The model to fit, created (or loaded from the checkpoint) in the run's strategy."""
    from caegen.training.distribute import make_strategy

    spec, run = plan.spec, plan.run
    steps = resolved.steps_per_epoch(len(plan.data.train))
    strategy = make_strategy(resolved)
    with strategy.scope():
        if plan.checkpoint is not None and not resolved.multi_worker:
            model = run.load_checkpoint(plan.checkpoint)
        else:
            # under a multi-worker strategy every worker creates the same variables in the
            # same order (each creation is a collective broadcast from the chief)
            model = compiled_model(spec, plan.report, resolved, steps)
    if not resolved.multi_worker:
        return Fitting(model, strategy, steps, plan.initial_epoch)
    from caegen.training import multiworker

    loop = multiworker.Loop(model, strategy, spec, vae_loss_weight(spec, plan.report) or 1.0)
    if plan.checkpoint is not None:  # the chief continues the job's run
        multiworker.copy_state(run.load_checkpoint(plan.checkpoint), model)
    # the chief's weights and optimizer state on every worker, and its epoch
    multiworker.broadcast_from_chief(strategy, model.variables + model.optimizer.variables)
    initial_epoch = int(multiworker.agreed(strategy, plan.initial_epoch))
    return Fitting(model, strategy, steps, initial_epoch, loop)


def _start_info(plan: Plan, resolved: Resolved, fitting: Fitting, n_test: int) -> dict[str, Any]:
    gpus = resolved.gpus
    return {
        "run_dir": str(plan.run.path),
        "train_images": len(plan.data.train),
        "test_images": n_test,
        "data": plan.data.description,
        "initial_epoch": fitting.initial_epoch,
        "epochs": plan.spec.train.epochs,
        "device": f"{gpus} GPU(s)" if gpus else "CPU",
        "strategy": resolved.strategy,
        "workers": resolved.workers,
        "mixed_precision": resolved.mixed_precision,
        "jit_compile": resolved.jit_compile,
        "params": plan.report.params.total,
    }


def _run_epochs(
    plan: Plan,
    resolved: Resolved,
    fitting: Fitting,
    test: Any,
    callbacks: list[Any],
    interrupt: Interrupt,
) -> None:
    from caegen.training.pipeline import evaluation_dataset, training_dataset

    spec, cfg, batch_size = plan.spec, plan.spec.train, plan.batch_size
    shard = resolved.shard()

    def train_batches() -> Any:  # the dataset orders each epoch itself, keyed by (seed, epoch)
        return training_dataset(
            plan.data.train, spec, batch_size, cfg.seed, fitting.initial_epoch, cfg.epochs, shard
        )

    def val_batches() -> Any:
        ds = evaluation_dataset(test, spec, batch_size, seed=cfg.seed + 1, cache=True)
        return shard.apply(ds) if shard else ds

    if fitting.multi_worker_loop is None:
        fitting.model.fit(
            train_batches(),
            epochs=cfg.epochs,
            initial_epoch=fitting.initial_epoch,
            steps_per_epoch=fitting.steps,
            validation_data=val_batches(),
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )
        return
    from caegen.training.multiworker import fit as fit_multi_worker

    fit_multi_worker(
        fitting.multi_worker_loop,
        fitting.strategy,
        train_batches,
        val_batches,
        fitting.steps,
        resolved.steps_per_epoch(len(test)),
        callbacks,
        fitting.initial_epoch,
        cfg.epochs,
        lambda: interrupt.requested,
    )


def _finish(
    plan: Plan,
    model: Any,
    history: list[dict[str, Any]],
    test: Any,
    resolved: Resolved,
    digest: str,
    variational: bool,
) -> dict[str, Any]:
    """Settle batch norm, save the models, score the test split, write metrics, per-image
    scores, HParams and figures."""
    from caegen.emit.keras_model import split_models
    from caegen.training.plots import run_figures
    from caegen.training.tensorboard import write_hparams

    spec, run, cfg = plan.spec, plan.run, plan.spec.train
    scores, recalibration = _settled_scores(plan, model, test)
    encoder, decoder, _ = split_models(model, plan.report)
    run.save_models({"autoencoder": model, "encoder": encoder, "decoder": decoder})
    metrics = scores.result()
    metrics["batch_norm_recalibration"] = recalibration
    if variational:
        from caegen.training.pipeline import evaluation_dataset
        from caegen.training.variational import test_elbo

        eval_ds = evaluation_dataset(test, spec, plan.batch_size, seed=cfg.seed + 1)
        metrics.update(test_elbo(model, eval_ds, int(np.prod(spec.input))))
        metrics["kl_weight"] = cfg.kl_weight
    metrics.update(_run_facts(plan, history, resolved, digest))
    run.write_per_image(scores.per_image())
    run.write_metrics(metrics)
    write_hparams(run.path, spec, plan.report, metrics)
    run_figures(spec, model, run.path, history, test)
    return metrics


QUALITY = ("mse", "mae", "psnr", "ssim", "psnr_gain_db")


def _settled_scores(plan: Plan, model: Any, test: Any) -> tuple[ReconstructionScore, dict]:
    """The test scores to report and what metrics.json says about batch norm: with
    `train.batch_norm_recalibration: auto` and batch-norm layers, the model is scored with
    its moving averages, its statistics are recomputed from the training images, and it
    is scored again (that is reported)."""
    from caegen.training.batchnorm import batch_norm_names, recalibrate

    spec, graph = plan.spec, plan.report.graph
    setting = spec.train.batch_norm_recalibration
    record: dict[str, Any] = {"setting": setting, "layers": len(batch_norm_names(graph))}
    if setting == "off" or not record["layers"]:
        return score(spec, model, plan.data, test), {**record, "applied": False}
    before = score(spec, model, plan.data, test).result()
    record.update(recalibrate(model, graph, spec, plan.data.train), applied=True)
    after = score(spec, model, plan.data, test)
    quality = (before, after.result())
    record["before"], record["after"] = ({k: m[k] for k in QUALITY if k in m} for m in quality)
    return after, {**record, "reported": "after"}


def _run_facts(
    plan: Plan, history: list[dict[str, Any]], resolved: Resolved, digest: str
) -> dict[str, Any]:
    """What metrics.json records about how the run was trained. `train_seconds` sums the
    epochs of history.csv: every epoch of the run, over all its resumes."""
    spec = plan.spec
    return {
        "spec": spec.name,
        "spec_hash": spec.spec_hash(),
        "epochs": len(history),
        "train_images": len(plan.data.train),
        "test_split_images": plan.data.test_split_images or len(plan.data.test),
        "train_seconds": round(sum(r["seconds"] or 0.0 for r in history), 2),
        "images_per_s": float(np.median([r["images_per_s"] for r in history])) if history else None,
        "device": "GPU" if resolved.gpus else "CPU",
        "strategy": resolved.strategy,
        "replicas": resolved.replicas,
        "workers": resolved.workers,
        "mixed_precision": resolved.mixed_precision,
        "jit_compile": resolved.jit_compile,
        "weights_sha256": digest,
    }
