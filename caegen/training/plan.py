"""Deciding what to train: a new run, a resumed run, or one worker's part of a multi-worker
job. Everything here is checked before a run directory is written or claimed, so an error
leaves nothing behind."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caegen.compile.compiler import Report, check
from caegen.core.diagnostics import CaegenError, error
from caegen.spec.schema import Spec
from caegen.training.data import DataSplits, load_data
from caegen.training.options import Progress, TrainOptions
from caegen.training.rundir import FINISHED, INTERRUPTED, Checkpoint, Run
from caegen.training.truth import one_kind_test


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
    scratch: Path | None = None
    """A worker's temporary run folder, removed when training ends."""

    @property
    def initial_epoch(self) -> int:
        return self.checkpoint.epoch if self.checkpoint else 0


def plan_run(spec: Spec | None, options: TrainOptions) -> Plan:
    """The run `train(spec, options)` trains: a new one, a resumed one, or this worker's."""
    from caegen.training.distribute import worker_cluster

    cluster = worker_cluster(options.strategy)
    if cluster is not None and options.resume is not None:
        raise error(
            "E068",
            "--resume does not combine with a multi-worker job: every worker would claim the run",
            "start the job again with the same command (without --resume): the chief "
            "continues its unfinished run",
        )
    if cluster is not None and spec is not None:
        return _worker_plan(cluster, spec, options)
    if options.resume is not None:
        plan = resume_plan(Path(options.resume), spec, options)
        plan.strategy = options.strategy
        return plan
    if spec is None:
        raise error("E052", "nothing to train", "pass a spec, or --resume RUN_DIR")
    spec, report, data, batch = prepare_new(spec, options)
    run = Run.create(Path(options.out), spec)
    return Plan(run, spec, report, data, None, [], batch, options.strategy)


def _worker_plan(cluster: Any, spec: Spec, options: TrainOptions) -> Plan:
    """One worker of a multi-worker job: the chief continues or creates the job's run; the
    other workers train into a temporary folder."""
    out = Path(options.out)
    job = cluster.job_id(with_overrides(spec, options).spec_hash())
    if cluster.index == 0:
        unfinished = Run.unfinished_job(out / spec.name, job)
        if unfinished is not None:
            plan = resume_plan(unfinished.path, None, options)
        else:
            spec, report, data, batch = prepare_new(spec, options)
            plan = Plan(Run.create(out, spec, job=job), spec, report, data, None, [], batch)
        plan.strategy = "multi-worker"
        return plan
    spec, report, data, batch = prepare_new(spec, options)
    scratch = Path(tempfile.mkdtemp(prefix=f"caegen-worker{cluster.index}-"))
    run = Run.create(scratch, spec, job=job)
    return Plan(run, spec, report, data, None, [], batch, "multi-worker", scratch)


def prepare_new(spec: Spec, options: TrainOptions) -> tuple[Spec, Report, DataSplits, int]:
    """A new run's spec, report, data and batch, all checked before a run directory exists
    (an error leaves none)."""
    from caegen.compile.memory import check_training_memory

    spec = with_overrides(spec, options)
    report = checked(spec)
    check_training_memory(report, 1, spec.train.optimizer.name)  # before any data is read
    splits = load_data(spec, output_root=Path(options.out))
    warn_one_kind(spec, splits, options.progress)
    return spec, report, splits, batch_size_for(spec, report, len(splits.train), options.progress)


def with_overrides(spec: Spec, options: TrainOptions) -> Spec:
    """The spec with the options' train and data values; it keeps the spec file's text, so
    that its errors still point at `file:line:col` (the options move no layer)."""
    train_update = {k: v for k, v in options.train_overrides.items() if v is not None}
    data_update = {k: v for k, v in options.data_overrides.items() if v is not None}
    if not train_update and not data_update:
        return spec
    changed = Spec.model_validate(
        {
            **spec.resolved(),
            "train": {**spec.train.model_dump(mode="json"), **train_update},
            "data": {**spec.data.model_dump(mode="json", exclude_none=True), **data_update},
        }
    )
    changed._source = spec.source
    return changed


def checked(spec: Spec) -> Report:
    report = check(spec)
    if not report.ok:
        raise CaegenError(report.errors)
    return report


def warn_one_kind(spec: Spec, data: DataSplits, progress: Progress) -> None:
    """W112: the test split of labelled anomaly data holds one kind of image, so `caegen
    score` will have no AUROC to give; training goes on (reconstruction is measured)."""
    found = one_kind_test(data, spec, "W112")
    if found is not None:
        progress.warn(f"{found.code} {found.message}\n  hint: {found.hint}")


def resume_plan(path: Path, spec: Spec | None, options: TrainOptions) -> Plan:
    """The plan to continue the run at `path`, claimed for this process (E060 when a live
    process trains it); a refusal leaves its status as it was."""
    run = Run.find(path, purpose="resume")
    recorded = run.spec
    _refuse_changes(run, recorded, spec, options)
    target = options.epochs or recorded.train.epochs
    status = run.status()
    run.claim()
    try:
        checkpoint = run.checkpoint()
        _refuse_no_more_epochs(run, checkpoint.epoch, target, status)
        history = _checkpointed_history(run, checkpoint, options.progress)
        resumed = recorded.model_copy(
            update={"train": recorded.train.model_copy(update={"epochs": target})}
        )
        report = checked(resumed)
        loaded = load_data(resumed, output_root=Path(options.out))
        warn_one_kind(resumed, loaded, options.progress)
        batch = batch_size_for(resumed, report, len(loaded.train), options.progress)
    except BaseException:
        run.release()
        run.mark(status.state if status.state != "killed" else INTERRUPTED, status.epoch)
        raise
    return Plan(run, resumed, report, loaded, checkpoint, history, batch)


def _refuse_no_more_epochs(run: Run, done: int, target: int, status: Any) -> None:
    finished = status.state == FINISHED and done == status.epoch
    if done > target or (finished and done >= target):
        raise error(
            "E058",
            f"{run.path} has trained {done} epoch(s) already"
            + (" and finished" if finished else "")
            + f"; --epochs {target} asks for no more",
            f"pass --epochs N with N > {done} to train it further",
        )


def _checkpointed_history(
    run: Run, checkpoint: Checkpoint, progress: Progress
) -> list[dict[str, Any]]:
    """The history rows of the epochs the checkpoint holds (warning about any gap)."""
    done = checkpoint.epoch
    for warning in checkpoint.warnings:
        progress.warn(warning)
    history = [row for row in run.history() if row["epoch"] <= done]
    if len(history) != done:
        progress.warn(f"history.csv holds {len(history)} of the {done} checkpointed epochs' rows")
    return history


def batch_size_for(spec: Spec, report: Report, n_train: int, progress: Progress) -> int:
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


def _refuse_changes(run: Run, recorded: Spec, spec: Spec | None, options: TrainOptions) -> None:
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
    for section, values in (("train", options.train_overrides), ("data", options.data_overrides)):
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


def dry_run(spec: Spec, options: TrainOptions) -> dict[str, Any]:
    """What `train` would do, checked as far as it can be without training: the spec, the
    data, the batch, memory, and the resolved strategy. Writes nothing."""
    from caegen.training.distribute import resolve
    from caegen.training.evaluate import evaluation_split

    spec, report, data, batch = prepare_new(spec, options)
    resolved = resolve(spec, batch, options.strategy, for_training=False)
    return {
        "spec": spec.name,
        "data": data.description,
        "train_images": len(data.train),
        "test_images": len(evaluation_split(data, spec)),
        "test_split_images": data.test_split_images or len(data.test),
        "epochs": spec.train.epochs,
        "steps_per_epoch": resolved.steps_per_epoch(len(data.train)),
        "params": report.params.total,
        **resolved.to_dict(),
    }
