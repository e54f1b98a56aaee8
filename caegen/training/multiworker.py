"""Training under MultiWorkerMirroredStrategy: a custom step in place of `model.fit`.

Keras 3.15's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585,
tensorflow/tensorflow#72388), while `strategy.run` over a GradientTape step works
unpatched, so this loop does what fit does with that step and nothing else: it drives the
same Keras callbacks (checkpoints, history, TensorBoard, schedules, early stopping, the KL
warm-up), so a multi-worker run records what a single-process run records.

Each global batch is the one a single process would use, cut into one part per replica
(`pipeline.Shard`); a step's loss is the global batch's mean, so the gradients summed over
the replicas are the single-process gradients. Everything the workers decide on is
reduced across them first (the losses, a NaN, a Ctrl-C on any worker), so they all take
the same branch at the same step and none waits forever in a collective.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_ERRORS = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "bce": "binary_crossentropy"}


def broadcast_from_chief(strategy: Any, variables: list[Any]) -> None:
    """Give every worker the chief's values (its loaded checkpoint, its initial weights)."""
    import tensorflow as tf

    def pull() -> list[Any]:
        ctx = tf.distribute.get_replica_context()
        chief = tf.cast(tf.equal(ctx.replica_id_in_sync_group, 0), tf.float64)
        return [
            ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(v, tf.float64) * chief)
            for v in variables
        ]

    values = strategy.run(tf.function(pull))
    for variable, value in zip(variables, values, strict=True):
        local = strategy.experimental_local_results(value)[0]
        variable.assign(tf.cast(local, variable.dtype))


def copy_state(saved: Any, model: Any) -> None:
    """A checkpoint's weights and optimizer state into the distributed model (loaded
    outside the strategy, since loading creates variables in its own order)."""
    model.set_weights(saved.get_weights())
    mine, theirs = model.optimizer.variables, saved.optimizer.variables
    if len(mine) != len(theirs):
        raise ValueError(
            f"the checkpoint's optimizer has {len(theirs)} variables, the model's {len(mine)}"
        )
    for variable, value in zip(mine, theirs, strict=True):
        variable.assign(value)


def agreed(strategy: Any, value: float) -> float:
    """The chief's `value`, on every worker (e.g. the epoch its checkpoint holds)."""
    import tensorflow as tf

    def pull() -> Any:
        ctx = tf.distribute.get_replica_context()
        chief = tf.cast(tf.equal(ctx.replica_id_in_sync_group, 0), tf.float64)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.constant(value, tf.float64) * chief)

    out = strategy.run(tf.function(pull))
    return float(strategy.experimental_local_results(out)[0])


class Loop:
    """The compiled model's training under a multi-worker strategy, epoch by epoch."""

    def __init__(self, model: Any, strategy: Any, spec: Any, loss_weight: float) -> None:
        import keras
        import tensorflow as tf

        self.model, self.strategy = model, strategy
        if spec.train.loss == "ssim":  # per image already: the mean below keeps it
            from caegen.training.losses import data_range_width, ssim_error

            width = data_range_width(spec.data.range)

            def pixel_error(y: Any, y_pred: Any) -> Any:
                return ssim_error(y, y_pred, width)
        else:
            pixel_error = getattr(keras.losses, _ERRORS[spec.train.loss])
        samplers = [layer for layer in model.layers if hasattr(layer, "kl_tracker")]
        self.kl_trackers = [layer.kl_tracker for layer in samplers]
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)

        def per_image(y: Any, y_pred: Any) -> Any:
            e = tf.cast(pixel_error(y, y_pred), tf.float32)  # the mean over channels
            return tf.reduce_mean(e, axis=list(range(1, len(e.shape))))

        def sums(x: Any, y: Any, training: bool) -> tuple[Any, ...]:
            ctx = tf.distribute.get_replica_context()
            n = tf.cast(tf.shape(x)[0], tf.float32)
            m = ctx.all_reduce(tf.distribute.ReduceOp.SUM, n)  # this global batch's size
            y_pred = model(x, training=training)
            errors = per_image(y, y_pred)
            penalty = tf.add_n([tf.cast(v, tf.float32) for v in model.losses] or [0.0])
            replicas = tf.cast(ctx.num_replicas_in_sync, tf.float32)
            # this replica's share: summed over the replicas, the global batch's mean loss
            loss = tf.reduce_sum(errors) * loss_weight / m + penalty / replicas
            return loss, n, tf.reduce_sum(errors), penalty * n

        def train_step(x: Any, y: Any, stop: Any) -> tuple[Any, ...]:
            with tf.GradientTape() as tape:
                loss, n, error_sum, penalty_sum = sums(x, y, True)
                scaled = model.optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return error_sum * loss_weight + penalty_sum, n, error_sum, stop

        def test_step(x: Any, y: Any) -> tuple[Any, ...]:
            _, n, error_sum, penalty_sum = sums(x, y, False)
            return error_sum * loss_weight + penalty_sum, n, error_sum

        def reduced(fn: Callable[..., Any]) -> Any:
            def run(*args: Any) -> list[Any]:
                out = strategy.run(fn, args=args)
                return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in out]

            return tf.function(run)

        self._train = reduced(train_step)
        self._test = reduced(test_step)

    def train_epoch(
        self,
        batches: Any,
        steps: int,
        callbacks: Any,
        stop_requested: Callable[[], bool],
    ) -> dict[str, float] | None:
        """One epoch; its logs, or None when a worker asked to stop (Ctrl-C)."""
        import tensorflow as tf

        self._reset_kl()
        totals = np.zeros(3)  # loss and error summed over the images, images
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            x, y = next(batches)
            flag = tf.constant(1.0 if stop_requested() else 0.0)
            loss, n, errors, stops = (float(v) for v in self._train(x, y, flag))
            if stops:
                return None
            totals += (loss, errors, n)
            callbacks.on_train_batch_end(step, {"loss": loss / max(n, 1.0)})
            if self.model.stop_training:  # a NaN: every worker saw the same reduced loss
                break
        return self._logs("", totals)

    def evaluate(self, batches: Any, steps: int) -> dict[str, float]:
        self._reset_kl()
        totals = np.zeros(3)
        for _ in range(steps):
            x, y = next(batches)
            loss, n, errors = (float(v) for v in self._test(x, y))
            totals += (loss, errors, n)
        return self._logs("val_", totals)

    def _reset_kl(self) -> None:
        for tracker in self.kl_trackers:
            tracker.reset_state()

    def _logs(self, prefix: str, totals: np.ndarray) -> dict[str, float]:
        """An epoch's logs as `fit` names them: means over the images seen."""
        loss_sum, error_sum, seen = totals
        logs = {
            f"{prefix}loss": loss_sum / max(seen, 1.0),
            f"{prefix}reconstruction_error": error_sum / max(seen, 1.0),
        }
        if self.kl_trackers:
            logs[f"{prefix}kl"] = float(np.mean([float(t.result()) for t in self.kl_trackers]))
        return logs


def fit(
    loop: Loop,
    strategy: Any,
    train_dataset: Callable[[], Any],
    val_dataset: Callable[[], Any],
    train_steps: int,
    val_steps: int,
    callbacks: list[Any],
    initial_epoch: int,
    epochs: int,
    stop_requested: Callable[[], bool],
) -> None:
    """`model.fit(...)` for a multi-worker strategy, with the same callback protocol.

    Raises KeyboardInterrupt on every worker at the same step when any asked to stop."""
    import keras

    model = loop.model
    model.stop_training = False
    callback_list = keras.callbacks.CallbackList(
        callbacks, model=model, epochs=epochs, steps=train_steps, verbose=0
    )
    train_batches = iter(strategy.distribute_datasets_from_function(lambda _: train_dataset()))
    validation = strategy.distribute_datasets_from_function(lambda _: val_dataset())
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        logs = loop.train_epoch(train_batches, train_steps, callback_list, stop_requested)
        if logs is None:
            raise KeyboardInterrupt
        logs.update(loop.evaluate(iter(validation), val_steps))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
