"""`caegen train`: plan a run, fit it, and record how it ended. The run directory and its
files belong to `rundir`; deciding what to train to `plan`; the loop to `loop`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from caegen.core.diagnostics import CaegenError, error
from caegen.spec.schema import Spec
from caegen.training.callbacks import Diverged, Interrupt
from caegen.training.model import make_loss, reconstruction_metric
from caegen.training.options import Progress, RunResult, SilentProgress, TrainOptions
from caegen.training.plan import Plan, plan_run
from caegen.training.rundir import DIVERGED, FAILED, FINISHED, INTERRUPTED, Run

__all__ = [
    "Interrupt",
    "Progress",
    "RunInterrupted",
    "RunResult",
    "SilentProgress",
    "TrainOptions",
    "dry_run",
    "make_loss",
    "reconstruction_metric",
    "train",
]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run: `epoch` epochs are checkpointed in `run_dir` (0: none)."""

    def __init__(self, run_dir: Path, epoch: int) -> None:
        super().__init__(f"{run_dir} interrupted after epoch {epoch}")
        self.run_dir = run_dir
        self.epoch = epoch


def train(
    spec: Spec | None = None, options: TrainOptions | None = None, **overrides: Any
) -> RunResult:
    """Train a spec on its data and write a run directory; or continue a run
    (`options.resume`). Keyword arguments are `TrainOptions` fields:
    `train(spec, epochs=2, limit=200)` equals `train(spec, TrainOptions(epochs=2, limit=200))`.

    Under a multi-worker strategy (TF_CONFIG) every worker calls this: the chief writes
    the run directory (continuing this job's unfinished run when there is one), the other
    workers a temporary one that is removed at the end."""
    options = _options(options, overrides)
    plan = plan_run(spec, options)
    try:
        return _train(plan, options.progress)
    finally:
        if plan.scratch is not None:
            import shutil

            shutil.rmtree(plan.scratch, ignore_errors=True)


def dry_run(spec: Spec, options: TrainOptions | None = None, **overrides: Any) -> dict[str, Any]:
    """What `train` would do, checked as far as it can be without training; writes nothing."""
    from caegen.training.plan import dry_run as planned_dry_run

    return planned_dry_run(spec, _options(options, overrides))


def _options(options: TrainOptions | None, overrides: dict[str, Any]) -> TrainOptions:
    if overrides.get("progress", ...) is None:
        overrides["progress"] = SilentProgress()
    return dataclasses.replace(options or TrainOptions(), **overrides)


def _train(plan: Plan, progress: Progress) -> RunResult:
    """Fit, record how the run ended in its status, and release it."""
    from caegen.training.loop import fit_and_finish

    run = plan.run
    try:
        result = fit_and_finish(plan, progress)
    except KeyboardInterrupt:
        epoch = _done(run)
        run.mark(INTERRUPTED, epoch, "Ctrl-C")
        raise RunInterrupted(run.path, epoch) from None
    except Diverged as exc:
        raise _diverged(run, exc) from None
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


def _diverged(run: Run, exc: Diverged) -> CaegenError:
    epoch = _done(run)
    run.mark(DIVERGED, epoch, f"the loss became NaN or infinite in epoch {exc.epoch}")
    kept = (
        f"{run.path / 'checkpoints'} keeps epoch {epoch}, the last good one"
        if epoch
        else "no epoch finished, so nothing was kept"
    )
    return error(
        "E055",
        f"the loss became NaN or infinite in epoch {exc.epoch}; training stopped and {kept}",
        "lower train.optimizer.learning_rate, check the data range against the loss, "
        "or add batch_norm",
    )


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
