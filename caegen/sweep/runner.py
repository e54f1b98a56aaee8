"""`caegen sweep`: search a space of spec variants; invalid points are rejected statically.

Every point is checked by the static compiler first (milliseconds); an invalid one is
recorded with its diagnostics and never built. Valid points are trained as ordinary runs
under the sweep directory:

    sweeps/<name>/<timestamp>/
        sweep.json        the spec, the space, the sampler, the objective (what identifies it)
        study.db          the trials (SQLite): shared by every process working the sweep
        runs/             one run directory per trained point (the usual layout)
        leaderboard.csv   every point: status, sizes, test metrics, timings (also .json)
        invalid.txt       each rejected point and why
        best.yaml         the best point's spec, as a plain spec

Running the same command again continues the latest matching sweep: finished points are
never trained twice, and a point whose process died resumes from its run's checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import yaml

from caegen.core.diagnostics import CaegenError, Diagnostic, Location, error
from caegen.core.fsutil import atomic_write_text, unwritable
from caegen.sweep.db import Database, display_url, open_database
from caegen.sweep.objectives import OBJECTIVES
from caegen.sweep.space import Dimension, Space, check_overlaps, dimension, point_key
from caegen.sweep.store import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    INVALID,
    QUEUED,
    RUNNING,
    Store,
    Trial,
)
from caegen.training.trainer import SilentProgress

SAMPLERS = ("grid", "random", "tpe", "qmc", "cmaes")
BUILT_IN = ("grid", "random")


@dataclass
class SweepConfig:
    spec_path: Path
    sets: list[str] = field(default_factory=list)
    space_file: Path | None = None
    sampler: str = "grid"
    objective: str = "psnr"
    max_trials: int | None = None
    budget_minutes: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    limit: int | None = None
    seed: int = 0
    out: Path = Path("sweeps")
    storage: str | None = None

    def identity(self, base_text: str) -> dict[str, Any]:
        """What makes two invocations the same sweep (budgets and jobs may differ)."""
        return {
            "spec": hashlib.sha256(base_text.encode()).hexdigest()[:16],
            "sets": self.sets,
            "space_file": self.space_file.read_text() if self.space_file else None,
            "sampler": self.sampler,
            "objective": self.objective,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "limit": self.limit,
            "seed": self.seed,
        }


class SweepProgress(Protocol):
    def trial_started(self, trial: Trial) -> None: ...
    def trial_ended(self, trial: Trial, sweep: Sweep) -> None: ...


class _Quiet:
    def trial_started(self, trial: Trial) -> None:
        pass

    def trial_ended(self, trial: Trial, sweep: Sweep) -> None:
        pass


# --- opening a sweep -----------------------------------------------------------------------
def load_space(config: SweepConfig, base: dict[str, Any]) -> Space:
    dims: list[Dimension] = []
    for text in config.sets:
        dims.append(dimension(text, base, where="--set"))
    if config.space_file is not None:
        dims += _space_file(config.space_file, base)
    if not dims:
        raise error(
            "E064",
            "the sweep has no dimensions",
            "add --set PATH=VALUES (e.g. encoder[0].filters=8,16,32) or --space FILE",
        )
    names = [d.name for d in dims]
    if len(set(names)) != len(names):
        raise error("E064", "a path is swept twice", "give each path one --set")
    check_overlaps(dims)
    return Space(base, dims)


def _space_file(path: Path, base: dict[str, Any]) -> list[Dimension]:
    from caegen.spec.yamlpos import YamlSyntaxError, load_with_positions
    from caegen.sweep.space import parse_target, values_from_yaml

    try:
        data, positions, _ = load_with_positions(path.read_text())
    except OSError as exc:
        raise error("E001", f"cannot read {path}: {exc.strerror}", "pass a YAML file") from None
    except YamlSyntaxError as exc:
        raise CaegenError(
            [
                _diag(
                    "E002",
                    f"invalid YAML: {exc.message}",
                    str(path),
                    exc.line,
                    "fix the YAML syntax",
                )
            ]
        ) from None
    if not isinstance(data, dict) or not data:
        raise error("E064", f"{path} holds no dimensions", "map each PATH to its values")
    dims = []
    for key, value in data.items():
        line = (positions.lookup((key,), prefer_key=True) or (None, None))[0]
        targets = [parse_target(t, base, str(path), line) for t in str(key).split("+")]
        dim = Dimension(str(key).strip(), targets)
        values_from_yaml(value, dim)
        dims.append(dim)
    return dims


def _diag(code: str, message: str, file: str, line: int | None, hint: str) -> Diagnostic:
    return Diagnostic(code, message, Location(file, line), hint)


def open_sweep(config: SweepConfig) -> Sweep:
    """The latest sweep with this identity (to continue it), or a new one."""
    from caegen.spec.loader import load

    if config.sampler not in SAMPLERS:
        raise error("E064", f"unknown sampler `{config.sampler}`", f"choose {', '.join(SAMPLERS)}")
    if config.objective not in OBJECTIVES:
        raise error(
            "E064", f"unknown objective `{config.objective}`", f"choose {', '.join(OBJECTIVES)}"
        )
    shared = _shared_database(config.storage)  # reached (or refused) before anything exists
    base_spec = load(config.spec_path)  # the base itself must be a valid spec
    if OBJECTIVES[config.objective][0] == "score":
        from caegen.score.objective import check_objective

        check_objective(base_spec, config.objective)  # E097: labels or masks it lacks
    base_text = config.spec_path.read_text()
    base = yaml.safe_load(base_text)
    space = load_space(config, base)
    if config.sampler == "grid":
        space.grid()  # a continuous range without :N is refused here, before anything runs
    identity = config.identity(base_text)
    root = config.out / base_spec.name
    for candidate in sorted(root.glob("*/sweep.json"), reverse=True):
        try:
            recorded = json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        if recorded.get("identity") == identity:
            _same_storage(recorded, config.storage, candidate.parent)
            return Sweep(candidate.parent, config, space, base_spec.name, resumed=True, db=shared)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = root / stamp
    try:
        folder.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        folder = root / f"{stamp}-{time.time_ns() % 10_000}"
        folder.mkdir(parents=True)
    except OSError as exc:
        raise unwritable(f"create {folder}", exc, "pass another --out") from None
    record = {
        "identity": identity,
        "spec_path": str(config.spec_path),
        "space": space.describe(),
        "config": {
            "sets": config.sets,
            "space_file": str(config.space_file) if config.space_file else None,
            "sampler": config.sampler,
            "objective": config.objective,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "limit": config.limit,
            "seed": config.seed,
            "storage": display_url(config.storage),
        },
    }
    atomic_write_text(folder / "sweep.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(folder / "spec.yaml", base_text)
    return Sweep(folder, config, space, base_spec.name, resumed=False, db=shared)


def open_existing(folder: Path, storage: str | None = None) -> Sweep:
    """A sweep directory, as a worker process (`--jobs`) opens it; `storage` is the URL
    with its password (sweep.json records it hidden)."""
    record = json.loads((folder / "sweep.json").read_text())
    c = record["config"]
    config = SweepConfig(
        spec_path=folder / "spec.yaml",
        sets=c["sets"],
        space_file=Path(c["space_file"]) if c["space_file"] else None,
        sampler=c["sampler"],
        objective=c["objective"],
        epochs=c["epochs"],
        batch_size=c["batch_size"],
        limit=c["limit"],
        seed=c["seed"],
        storage=storage if storage is not None else c["storage"],
    )
    base = yaml.safe_load((folder / "spec.yaml").read_text())
    from caegen.spec.loader import load

    name = load(folder / "spec.yaml").name
    return Sweep(folder, config, load_space(config, base), name, resumed=True)


# --- the sweep -----------------------------------------------------------------------------
class Sweep:
    def __init__(
        self,
        folder: Path,
        config: SweepConfig,
        space: Space,
        name: str,
        *,
        resumed: bool,
        db: Database | None = None,
    ) -> None:
        self.folder = folder
        self.config = config
        self.space = space
        self.name = name
        self.resumed = resumed
        if db is None:
            db = open_database(config.storage, folder / "study.db")
        # the default file holds one sweep; a database given by --storage may hold many
        self.study_name = "caegen" if config.storage is None else f"caegen_{_folder_id(folder)}"
        self.store = Store(db, prefix=self.study_name)
        self.sampler = _optuna_sampler(self) if config.sampler not in BUILT_IN else None

    @property
    def runs(self) -> Path:
        return self.folder / "runs"

    # --- points ----------------------------------------------------------------------------
    def check_point(
        self, point: dict[str, Any], number: int | None = None
    ) -> tuple[Any, list, dict, float]:
        """(spec or None, diagnostics, static sizes, milliseconds) for one point; a trial's
        `number` names its spec (validity does not depend on it)."""
        from caegen.compile.compiler import check
        from caegen.spec.loader import loads

        started = time.perf_counter()
        data = self.space.apply(point)
        if isinstance(data, dict) and number is not None:
            data["name"] = f"{self.name}-{number:04d}"
        diagnostics: list[dict[str, Any]] = []
        static: dict[str, Any] = {}
        spec = None
        try:
            spec = loads(yaml.safe_dump(data, sort_keys=False))
            report = check(spec)
            problems = report.errors
            if report.ok:
                static = {
                    "params": report.params.total,
                    "macs": report.macs,
                    "latent_size": report.latent_size,
                }
        except CaegenError as exc:
            problems = exc.diagnostics
        diagnostics = [_recorded(d) for d in problems]
        ms = (time.perf_counter() - started) * 1000.0
        return (spec if not diagnostics else None), diagnostics, static, ms

    def enqueue_grid(self) -> None:
        points = self.space.grid()
        if self.config.max_trials is not None:
            points = points[: self.config.max_trials]
        known = {point_key(t.point) for t in self.store.trials()}
        for point in points:
            key = point_key(point)
            if key in known:
                continue
            self._record(point, key)

    def _record(self, point: dict[str, Any], key: str, external: int | None = None) -> Trial | None:
        _, diagnostics, static, ms = self.check_point(point)
        added = self.store.add(
            key,
            INVALID if diagnostics else QUEUED,
            diagnostics=diagnostics,
            static=static,
            check_ms=ms,
            external=external,
        )
        return self.store.trial(added) if added is not None else None

    def propose(self) -> bool:
        """Add the next sampled point (random or Optuna); False when the budget is spent."""
        proposed = sum(self.store.counts().values())
        if self.config.max_trials is not None and proposed >= self.config.max_trials:
            return False
        if self.sampler is not None:
            return self.sampler.propose(self)
        for attempt in range(100):  # a repeated draw is skipped, not trained again
            point = self.space.sample(self.config.seed, proposed + attempt * 1_000_003)
            if self._record(point, point_key(point)) is not None:
                return True
        return False

    # --- the work loop ---------------------------------------------------------------------
    def work(self, progress: SweepProgress | None = None, deadline: float | None = None) -> None:
        """Claim and train points until none is left or the budget is spent."""
        progress = progress or _Quiet()
        self.store.requeue_orphans()
        if self.config.sampler == "grid":
            self.enqueue_grid()
        while deadline is None or time.time() < deadline:
            trial = self.store.claim()
            if trial is None:
                if self.config.sampler == "grid" or not self.propose():
                    break
                continue
            progress.trial_started(trial)
            trial = self.run_trial(trial)
            progress.trial_ended(trial, self)
            if trial.state == INTERRUPTED:
                raise KeyboardInterrupt
        self.write_reports()

    def run_trial(self, trial: Trial) -> Trial:
        from caegen.training.trainer import train

        _quiet_tensorflow()

        source, _direction = OBJECTIVES[self.config.objective]
        if source == "static":  # nothing to train: the objective is known statically
            self.store.update(trial.number, state=FINISHED, metrics={})
            self._tell(trial.number)
            return self.store.trial(trial.number)
        spec, diagnostics, _, _ = self.check_point(trial.point, trial.number)
        if spec is None:  # cannot happen for a queued point, unless caegen itself changed
            self.store.update(trial.number, state=INVALID, diagnostics=diagnostics)
            return self.store.trial(trial.number)
        try:
            if trial.run_dir and _resumable(Path(trial.run_dir)):
                from caegen.training.rundir import Run

                run = Run(Path(trial.run_dir))
                if run.status().state == "finished":
                    result_metrics = run.metrics()
                else:
                    result_metrics = train(resume=trial.run_dir).metrics
                run_dir = trial.run_dir
            else:
                if trial.run_dir:  # stopped before its first epoch: nothing to keep
                    _remove_stub(Path(trial.run_dir))
                result = train(
                    spec,
                    epochs=self.config.epochs,
                    batch_size=self.config.batch_size,
                    limit=self.config.limit,
                    out=self.runs,
                    progress=_RunRecorder(self.store, trial.number),
                )
                result_metrics, run_dir = result.metrics, str(result.run_dir.resolve())
            if source == "score":  # the trained run, scored for anomalies
                from caegen.score.objective import objective_metrics

                scored = objective_metrics(Path(run_dir), self.config.objective)
                result_metrics = {**result_metrics, **scored}
        except KeyboardInterrupt as exc:
            run_dir = str(getattr(exc, "run_dir", "") or trial.run_dir or "") or None
            self.store.update(trial.number, state=INTERRUPTED, run_dir=run_dir)
            self.write_reports()
            return self.store.trial(trial.number)
        except CaegenError as exc:
            reason = [_recorded(exc.diagnostics[0])]
            self.store.update(trial.number, state=FAILED, diagnostics=reason)
            self._tell(trial.number, failed=True)
            self.write_reports()
            return self.store.trial(trial.number)
        self.store.update(trial.number, state=FINISHED, metrics=result_metrics, run_dir=run_dir)
        self._tell(trial.number)
        self.write_reports()
        return self.store.trial(trial.number)

    def _tell(self, number: int, failed: bool = False) -> None:
        if self.sampler is not None:
            self.sampler.tell(self, self.store.trial(number), failed)

    # --- results ---------------------------------------------------------------------------
    def objective_value(self, trial: Trial) -> float | None:
        source, _ = OBJECTIVES[self.config.objective]
        values = trial.static if source == "static" else trial.metrics
        value = values.get(self.config.objective)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def best(self) -> Trial | None:
        _, direction = OBJECTIVES[self.config.objective]
        scored = [
            (v, t)
            for t in self.store.trials()
            if t.state == FINISHED and (v := self.objective_value(t)) is not None
        ]
        if not scored:
            return None
        pick = max if direction == "maximize" else min
        return pick(scored, key=lambda vt: vt[0])[1]

    def leaderboard(self) -> list[dict[str, Any]]:
        _, direction = OBJECTIVES[self.config.objective]
        rows = []
        for t in self.store.trials():
            m = t.metrics
            rows.append(
                {
                    "trial": t.number,
                    "status": {QUEUED: "queued", RUNNING: "running"}.get(t.state, t.state),
                    "objective": self.objective_value(t),
                    "point": t.point,
                    "params": t.static.get("params"),
                    "macs": t.static.get("macs"),
                    "latent_size": t.static.get("latent_size"),
                    "test_psnr": m.get("psnr"),
                    "test_ssim": m.get("ssim"),
                    "test_mse": m.get("mse"),
                    "images_per_s": m.get("images_per_s"),
                    "train_seconds": m.get("train_seconds"),
                    "check_ms": round(t.check_ms, 2) if t.check_ms is not None else None,
                    "run_dir": t.run_dir,
                    "reason": "; ".join(
                        f"{d['code']} {d.get('where') or ''}: {d['message']}" for d in t.diagnostics
                    )
                    or None,
                }
            )
        sign = -1 if direction == "maximize" else 1
        rows.sort(
            key=lambda r: (
                r["objective"] is None,
                sign * r["objective"] if r["objective"] is not None else 0,
                r["trial"],
            )
        )
        return rows

    def write_reports(self) -> None:
        rows = self.leaderboard()
        try:
            atomic_write_text(self.folder / "leaderboard.json", json.dumps(rows, indent=2) + "\n")
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["trial"])
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "point": json.dumps(row["point"], sort_keys=True)})
            atomic_write_text(self.folder / "leaderboard.csv", buf.getvalue())
            invalid = [t for t in self.store.trials() if t.state == INVALID]
            lines = [
                f"trial {t.number}: {json.dumps(t.point, sort_keys=True)}\n"
                + "".join(
                    f"  {d['code']} at {d.get('where') or 'the spec'}: {d['message']}\n"
                    for d in t.diagnostics
                )
                for t in invalid
            ]
            atomic_write_text(self.folder / "invalid.txt", "".join(lines))
            best = self.best()
            if best is not None:
                data = self.space.apply(best.point)
                data["name"] = f"{self.name}-best"
                header = (
                    f"# best of sweep {self.folder} by {self.config.objective}: trial "
                    f"{best.number}, {json.dumps(best.point, sort_keys=True)}\n"
                )
                atomic_write_text(
                    self.folder / "best.yaml", header + yaml.safe_dump(data, sort_keys=False)
                )
        except OSError as exc:
            raise unwritable(
                f"write the reports of {self.folder}", exc, "free disk space"
            ) from None


class _RunRecorder(SilentProgress):
    """Training progress of one point: records its run directory as soon as it exists."""

    def __init__(self, store: Store, number: int) -> None:
        self.store, self.number = store, number

    def start(self, info: dict[str, Any]) -> None:
        self.store.update(self.number, run_dir=str(Path(info["run_dir"]).resolve()))


def _resumable(run_dir: Path) -> bool:
    """Finished, or holding a checkpoint to continue from."""
    from caegen.training.rundir import LAST, PREVIOUS, Run

    if not run_dir.exists():
        return False
    try:
        if Run(run_dir).status().state == "finished":
            return True
    except CaegenError:
        return False
    return (run_dir / LAST).exists() or (run_dir / PREVIOUS).exists()


def _remove_stub(run_dir: Path) -> None:
    """A point's run directory that no epoch ever reached (the sweep's own bookkeeping)."""
    import shutil

    from caegen.training.rundir import Run

    try:
        live = Run(run_dir).is_live()
    except CaegenError:
        live = False
    if run_dir.exists() and not live:
        shutil.rmtree(run_dir, ignore_errors=True)


def _quiet_tensorflow() -> None:
    """Many models in one process make TensorFlow warn about retracing: expected here."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _recorded(d: Diagnostic) -> dict[str, Any]:
    """A diagnostic as the trial table keeps it (and invalid.txt shows it)."""
    return {"code": d.code, "message": d.message, "where": d.location.path}


def _shared_database(storage: str | None) -> Database | None:
    """The database --storage names, opened now so that a bad URL, a missing driver or an
    unreachable server is reported before a sweep directory exists."""
    return None if storage is None else open_database(storage, Path("study.db"))


def _same_storage(recorded: dict[str, Any], storage: str | None, folder: Path) -> None:
    kept = recorded.get("config", {}).get("storage")
    if kept != display_url(storage):
        where = kept or "the sweep directory's study.db"
        raise error(
            "E067",
            f"{folder} keeps its trials in {where}, not in {display_url(storage) or 'study.db'}",
            f"continue it with --storage {kept}" if kept else "continue it without --storage",
        )


def _folder_id(folder: Path) -> str:
    """A sweep's name in a shared database: the same for every process working it."""
    record = json.loads((folder / "sweep.json").read_text())
    return hashlib.sha256(json.dumps(record["identity"], sort_keys=True).encode()).hexdigest()[:12]


def _optuna_sampler(sweep: Sweep) -> Any:
    from caegen.sweep.optuna_sampler import OptunaSampler

    return OptunaSampler(sweep)
