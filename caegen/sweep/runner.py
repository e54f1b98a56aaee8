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

With `repeats` K > 1 every valid point is K trials, `{...point, "repeat": r}` for r in
0..K-1, each trained with its own seed derived from the base spec's seed, the point and r
(`repeat_seed`), recorded in the trial's static sizes and in the run's `train.seed`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from caegen.core.diagnostics import CaegenError, Diagnostic, Location, error
from caegen.core.fsutil import atomic_write_text, unwritable
from caegen.core.inputs import read_input_text
from caegen.spec.yamlpos import safe_dump, safe_load
from caegen.sweep.db import Database, display_url, open_database
from caegen.sweep.objectives import OBJECTIVES
from caegen.sweep.owner import DEAD, Owner, owner_state
from caegen.sweep.paths import contained_run, mark_run, remove_stub, stored_path
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
SPACE_COPY = "space.yaml"
"""The space file's text, kept in the sweep folder for the workers."""
ORPHANED = "orphaned"
"""A running or interrupted point whose process died (counted, never stored)."""
PROPOSALS = "proposals"
"""The meta counter of a sampler's proposals, repeated points included (--max-trials)."""
REPEATS_IN_A_ROW = 100
"""A sampler that proposes this many known points in a row has run out of new ones."""


@dataclass
class SweepConfig:
    spec_path: Path
    sets: list[str] = field(default_factory=list)
    space_file: Path | None = None
    space_text: str | None = None
    """The space file's text, read once (a pipe such as `<(...)` can be read only once)."""
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
    repeats: int = 1

    def space_source(self) -> str | None:
        """The space file's text (read on first use, then kept)."""
        if self.space_file is not None and self.space_text is None:
            hint = "pass a YAML file mapping PATH to its values"
            self.space_text = read_input_text(self.space_file, "space file", hint)
        return self.space_text

    def identity(self, base_text: str) -> dict[str, Any]:
        """What makes two invocations the same sweep (budgets and jobs may differ)."""
        return {
            "spec": hashlib.sha256(base_text.encode()).hexdigest()[:16],
            "sets": self.sets,
            "space_file": self.space_source(),
            "sampler": self.sampler,
            "objective": self.objective,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "limit": self.limit,
            "seed": self.seed,
            # absent for one repeat, so that sweeps from before repeats keep their identity
            **({"repeats": self.repeats} if self.repeats != 1 else {}),
        }


REPEAT = "repeat"
"""The key of a trial's repeat index in its recorded point (not a spec path)."""


def split_repeat(point: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """(the point's values, its repeat index or None)."""
    values = {k: v for k, v in point.items() if k != REPEAT}
    return values, point.get(REPEAT)


def repeat_seed(base_seed: int, values: dict[str, Any], repeat: int) -> int:
    """The `train.seed` of one repeat of a point: the same on every machine and resume."""
    text = f"{base_seed}:{point_key(values)}:{repeat}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


class SweepProgress(Protocol):
    def queueing(self, done: int, total: int) -> None: ...
    def trial_started(self, trial: Trial) -> None: ...
    def trial_ended(self, trial: Trial, sweep: Sweep) -> None: ...


class _Quiet:
    def queueing(self, done: int, total: int) -> None:
        pass

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
        dims += _space_file(config.space_file, config.space_source() or "", base)
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


def _space_file(path: Path, text: str, base: dict[str, Any]) -> list[Dimension]:
    from caegen.spec.yamlpos import YamlSyntaxError, load_with_positions
    from caegen.sweep.space import check_blocks, parse_target, values_from_yaml

    try:
        data, positions, duplicates = load_with_positions(text)
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
    if duplicates:
        first = duplicates[0]
        raise CaegenError(
            [
                _diag(
                    "E064",
                    f"`{first.path[-1]}` is given twice in {path} (YAML would keep only the last)",
                    str(path),
                    first.line,
                    "give each path once, with all its values",
                )
            ]
        )
    if not isinstance(data, dict) or not data:
        raise error("E064", f"{path} holds no dimensions", "map each PATH to its values")
    dims = []
    for key, value in data.items():
        line = (positions.lookup((key,), prefer_key=True) or (None, None))[0]
        targets = [parse_target(t, base, str(path), line) for t in str(key).split("+")]
        dim = Dimension(str(key).strip(), targets)
        try:
            values_from_yaml(value, dim)
            check_blocks(dim)
        except CaegenError as exc:
            raise CaegenError([_located(d, str(path), line) for d in exc.diagnostics]) from None
        dims.append(dim)
    return dims


def _located(d: Diagnostic, file: str, line: int | None) -> Diagnostic:
    """A space file's finding at the line of its dimension (when it has no place yet)."""
    if d.location.file is not None:
        return d
    return Diagnostic(d.code, d.message, Location(file, line, None, d.location.path), d.hint)


def _diag(code: str, message: str, file: str, line: int | None, hint: str) -> Diagnostic:
    return Diagnostic(code, message, Location(file, line), hint)


def open_sweep(config: SweepConfig) -> Sweep:
    """The latest sweep with this identity (to continue it), or a new one."""
    from caegen.spec.loader import loads

    _refuse_options(config)
    shared = _shared_database(config.storage)  # reached (or refused) before anything exists
    # read once (a FIFO reads once), and the base itself must be a valid spec
    base_text = read_input_text(config.spec_path, "spec file", "pass the base spec")
    base_spec = loads(base_text, file=str(config.spec_path))
    scored = OBJECTIVES[config.objective][0] == "score"
    if scored:
        from caegen.score.objective import check_objective

        check_objective(base_spec, config.objective)  # E097: labels or masks it lacks
    base = safe_load(base_text)
    space = load_space(config, base)
    _repeats_fit(config, space)
    if config.sampler == "grid":
        space.grid_size()  # counted: too large, or a range without :N, is refused here
    elif space.size() is None and config.max_trials is None and config.budget_minutes is None:
        raise error(
            "E071",
            f"--sampler {config.sampler} over a continuous range has no end",
            "give --max-trials N or --budget-minutes M (or :N points per range and --sampler grid)",
        )
    if scored:  # the data read last, once the cheap checks have passed
        from caegen.score.objective import check_test_kinds

        check_test_kinds(base_spec, config.objective)  # E094: a test split of one kind
    identity = config.identity(base_text)
    root = config.out / base_spec.name
    for candidate in sorted(root.glob("*/sweep.json"), reverse=True):
        try:
            recorded = sweep_record(candidate.parent)
        except CaegenError:
            continue  # a damaged sweep is not the one to continue
        if recorded["identity"] == identity:
            _same_storage(recorded, config.storage, candidate.parent)
            if config.space_text is not None and not (candidate.parent / SPACE_COPY).exists():
                atomic_write_text(candidate.parent / SPACE_COPY, config.space_text)  # older
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
    record = _record_of(config, identity, space)
    atomic_write_text(folder / "sweep.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(folder / "spec.yaml", base_text)
    if config.space_text is not None:  # the workers read this copy, not the user's file
        atomic_write_text(folder / SPACE_COPY, config.space_text)
    return Sweep(folder, config, space, base_spec.name, resumed=False, db=shared)


def _refuse_options(config: SweepConfig) -> None:
    """Options that cannot work together, refused before anything exists."""
    if config.sampler not in SAMPLERS:
        raise error("E064", f"unknown sampler `{config.sampler}`", f"choose {', '.join(SAMPLERS)}")
    if config.objective not in OBJECTIVES:
        raise error(
            "E064", f"unknown objective `{config.objective}`", f"choose {', '.join(OBJECTIVES)}"
        )
    if config.sampler not in BUILT_IN:
        from caegen.sweep.optuna_sampler import missing_optuna

        if (missing := missing_optuna(config.sampler)) is not None:
            raise missing  # before anything exists
    if config.repeats > 1 and OBJECTIVES[config.objective][0] == "static":
        raise error(
            "E064",
            f"--repeats {config.repeats} with the static objective `{config.objective}`: "
            "nothing is trained, so every repeat would be the same",
            "drop --repeats, or choose a trained objective (psnr, ssim, mse)",
        )


def _record_of(config: SweepConfig, identity: str, space: Any) -> dict[str, Any]:
    """sweep.json: what identifies the sweep and how it was asked for."""
    return {
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
            "repeats": config.repeats,
        },
    }


_RECORD_KEYS: dict[str, tuple[type, ...]] = {
    "sets": (list,),
    "space_file": (str, type(None)),
    "sampler": (str,),
    "objective": (str,),
    "epochs": (int, type(None)),
    "batch_size": (int, type(None)),
    "limit": (int, type(None)),
    "seed": (int,),
    "storage": (str, type(None)),
}


def sweep_record(folder: Path) -> dict[str, Any]:
    """A sweep directory's sweep.json, checked: E059 names what is damaged in it."""
    path = folder / "sweep.json"
    text = read_input_text(path, "sweep record", "pass a sweep directory")
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("it is not a JSON object")
        if not isinstance(record.get("identity"), dict):
            raise ValueError("its `identity` is not an object")
        config = record.get("config")
        if not isinstance(config, dict):
            raise ValueError("its `config` is not an object")
        for key, kinds in _RECORD_KEYS.items():
            if not isinstance(config.get(key), kinds) or isinstance(config.get(key), bool):
                raise ValueError(f"`config.{key}` is missing or of the wrong kind")
        if not all(isinstance(s, str) for s in config["sets"]):
            raise ValueError("`config.sets` holds something other than text")
        repeats = config.get("repeats", 1)
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError("`config.repeats` is not a whole number of 1 or more")
    except (ValueError, RecursionError) as exc:
        raise error(
            "E059",
            f"{path} is damaged: {exc}",
            "start the sweep afresh in another --out (this folder's runs stay readable)",
        ) from None
    return record


def open_existing(folder: Path, storage: str | None = None) -> Sweep:
    """A sweep directory, as a worker process (`--jobs`) opens it; `storage` is the URL
    with its password (sweep.json records it hidden). It reads only the folder's files."""
    from caegen.spec.loader import loads

    try:
        c = sweep_record(folder)["config"]
        base_text = read_input_text(folder / "spec.yaml", "sweep's spec file")
        space_copy = folder / SPACE_COPY
        space_text = read_input_text(space_copy, "sweep's space file") if c["space_file"] else None
    except CaegenError as exc:
        raise error(
            "E052",
            f"{folder} is not a whole sweep directory ({exc.diagnostics[0].message})",
            "pass a folder written by `caegen sweep` (sweeps/<name>/<timestamp>)",
        ) from None
    config = SweepConfig(
        spec_path=folder / "spec.yaml",
        sets=c["sets"],
        space_file=space_copy if space_text is not None else None,
        space_text=space_text,
        sampler=c["sampler"],
        objective=c["objective"],
        epochs=c["epochs"],
        batch_size=c["batch_size"],
        limit=c["limit"],
        seed=c["seed"],
        storage=storage if storage is not None else c["storage"],
        repeats=c.get("repeats", 1),
    )
    name = loads(base_text, file=str(folder / "spec.yaml")).name
    return Sweep(folder, config, load_space(config, safe_load(base_text)), name, resumed=True)


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
        self.sweep_id = _folder_id(folder)
        self.study_name = "caegen" if config.storage is None else f"caegen_{self.sweep_id}"
        self.owner = Owner(folder)
        self.store = Store(db, prefix=self.study_name, owner=self.owner.id)
        self.sampler = _optuna_sampler(self) if config.sampler not in BUILT_IN else None
        self.stopped: str | None = None
        """Why the search ended (a sampler's budget or its space ran out), once it has."""
        self.repeats_in_a_row = 0
        self.data_checked: set[str] = set()
        """The data sections (with the input) whose test split this process has seen hold
        both kinds of image (score objectives)."""

    @property
    def runs(self) -> Path:
        return self.folder / "runs"

    def close(self) -> None:
        """This process is done with the sweep: its lock goes (its points are settled)."""
        self.owner.release()

    def stored(self, run_dir: str | Path) -> str:
        """A run directory as the trial table keeps it: relative to the sweep folder."""
        return stored_path(self.folder, run_dir)

    def _run_path(self, trial: Trial) -> Path | None:
        """The trial's recorded run directory, inside this folder (E070 if it leaves it)."""
        if not trial.run_dir:
            return None
        return contained_run(self.folder, trial.run_dir, self.sweep_id, trial.number)

    # --- points ----------------------------------------------------------------------------
    def check_point(
        self, point: dict[str, Any], number: int | None = None
    ) -> tuple[Any, list, dict, float]:
        """(spec or None, diagnostics, static sizes, milliseconds) for one point; a trial's
        `number` names its spec (validity does not depend on it)."""
        from caegen.compile.compiler import check
        from caegen.spec.loader import loads

        started = time.perf_counter()
        values, repeat = split_repeat(point)
        data = self.space.apply(values)
        seed = None
        if isinstance(data, dict) and repeat is not None:
            train = data.setdefault("train", {})
            if isinstance(train, dict):  # anything else is reported by the loader below
                base = train.get("seed", 0)
                base = base if isinstance(base, int) and not isinstance(base, bool) else 0
                seed = repeat_seed(base, values, repeat)
                train["seed"] = seed
        if isinstance(data, dict) and number is not None:
            data["name"] = f"{self.name}-{number:04d}"
        diagnostics: list[dict[str, Any]] = []
        static: dict[str, Any] = {}
        spec = None
        try:
            spec = loads(safe_dump(data, sort_keys=False))
            report = check(spec)
            problems = report.errors
            if report.ok:
                static = {
                    "params": report.params.total,
                    "macs": report.macs,
                    "latent_size": report.latent_size,
                    **({"seed": seed} if seed is not None else {}),
                }
        except CaegenError as exc:
            problems = exc.diagnostics
        diagnostics = [_recorded(d) for d in problems]
        ms = (time.perf_counter() - started) * 1000.0
        return (spec if not diagnostics else None), diagnostics, static, ms

    def enqueue_grid(self, progress: SweepProgress | None = None) -> None:
        """Queue the grid's points (each checked statically), counted first: a grid over
        MAX_SWEEP_POINTS is E071 before any point is built; `progress` hears how far."""
        total = self.space.grid_size()
        if self.config.max_trials is not None:
            total = min(total, self.config.max_trials)
        known = {point_key(t.point): t.state for t in self.store.trials()}
        shown = time.monotonic()
        for done, point in enumerate(itertools.islice(self.space.iter_grid(), total), 1):
            for trial_point in self.trial_points(point):
                key = point_key(trial_point)
                state = known.get(key)
                if state is None:
                    added = self._record(trial_point, key)
                    state = added.state if added is not None else None
                if state == INVALID:
                    break  # an invalid point is recorded once, not once per repeat
            if progress is not None and time.monotonic() - shown > 0.25:
                progress.queueing(done, total)
                shown = time.monotonic()

    def trial_points(self, point: dict[str, Any]) -> list[dict[str, Any]]:
        """The trials of one point: the point itself, or one per repeat."""
        if self.config.repeats == 1:
            return [point]
        return [{**point, REPEAT: r} for r in range(self.config.repeats)]

    def record_point(self, point: dict[str, Any], external: int | None = None) -> Trial | None:
        """Record a sampled point's trials; its first trial (the one `external`, an Optuna
        trial, is told about), or None when the point is known already."""
        first: Trial | None = None
        for r, trial_point in enumerate(self.trial_points(point)):
            added = self._record(trial_point, point_key(trial_point), external if r == 0 else None)
            if r == 0:
                first = added
                if added is None or added.state == INVALID:
                    break
        return first

    def proposed_points(self) -> int:
        """Points proposed so far (a point's repeats count once)."""
        if self.config.repeats == 1:
            return sum(self.store.counts().values())
        return sum(1 for t in self.store.trials() if t.point.get(REPEAT, 0) == 0)

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
        """Propose the next sampled point (random or Optuna); False when the search is
        over, and `stopped` says why. A point proposed again counts as a proposal."""
        if self.search_over():
            return False
        number = self.store.bump(PROPOSALS, start=self._points())
        if self.config.max_trials is not None and number > self.config.max_trials:
            return not self.search_over()  # another process took the last proposal
        if self.sampler is not None:
            new = self.sampler.propose(self)
        else:
            point = self.space.sample(self.config.seed, number - 1)
            new = self.record_point(point) is not None
        self.repeats_in_a_row = 0 if new else self.repeats_in_a_row + 1
        return True

    def search_over(self) -> bool:
        """Whether a sampler has proposed all it may; sets `stopped` to the reason."""
        proposals = self.store.get_meta(PROPOSALS) or 0
        points = self._points()
        size = self.space.size()
        repeated = max(0, proposals - points)
        if self.config.max_trials is not None and max(proposals, points) >= self.config.max_trials:
            self.stopped = (
                f"--max-trials {self.config.max_trials} reached: {points} points proposed"
                + (f" and {repeated} proposals of points tried already" if repeated else "")
            )
        elif size is not None and points >= size:
            self.stopped = f"the space is exhausted: all {size:,} of its points were proposed"
        elif self.repeats_in_a_row >= REPEATS_IN_A_ROW:
            self.stopped = (
                f"the sampler proposed {self.repeats_in_a_row} points in a row that were tried "
                f"already ({points:,} of {f'{size:,}' if size else 'its'} points proposed)"
            )
        else:
            return False
        return True

    def _points(self) -> int:
        """How many points the sweep holds (a point's repeats count once)."""
        return self.proposed_points()

    # --- the work loop ---------------------------------------------------------------------
    def work(self, progress: SweepProgress | None = None, deadline: float | None = None) -> None:
        """Claim and train points until none is left or the budget is spent."""
        progress = progress or _Quiet()
        self.store.requeue_orphans(self.orphaned)
        if self.config.sampler == "grid":
            self.enqueue_grid(progress)
        while deadline is None or time.time() < deadline:
            trial = self.store.claim()
            if trial is None:
                if self.store.requeue_orphans(self.orphaned):
                    continue  # a process working this sweep died: its points are ours now
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
            previous = self._run_path(trial)
        except CaegenError as exc:  # a run path that leaves the folder: never followed
            reason = [_recorded(exc.diagnostics[0])]
            self.store.update(trial.number, state=FAILED, diagnostics=reason)
            self.write_reports()
            raise
        try:
            result_metrics, run_dir = self._train_point(trial, spec, previous)
        except KeyboardInterrupt as exc:
            stopped = getattr(exc, "run_dir", None)  # the run this very call trained
            run_dir = trial.run_dir
            if stopped:
                run_dir = self.stored(stopped)
                mark_run(Path(stopped), self.sweep_id, trial.number)  # stopped before start()
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

    def _train_point(
        self, trial: Trial, spec: Any, previous: Path | None
    ) -> tuple[dict[str, Any], str]:
        """Train a point, or continue its run: (test metrics, run directory as stored)."""
        from caegen.training.rundir import Run
        from caegen.training.trainer import train

        if previous is not None and _resumable(previous):
            if Run(previous).status().state == "finished":
                metrics = Run(previous).metrics()
            else:
                metrics = train(resume=previous, out=self.runs).metrics
            return self._scored(metrics, previous), self.stored(previous)
        if previous is not None:  # stopped before its first epoch: nothing to keep
            remove_stub(previous, self.sweep_id, trial.number)
        self._check_test_kinds(spec)
        result = train(
            spec,
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            limit=self.config.limit,
            out=self.runs,
            progress=_RunRecorder(self, trial.number),
        )
        return self._scored(result.metrics, result.run_dir), self.stored(result.run_dir)

    def _check_test_kinds(self, spec: Any) -> None:
        """E094 before a point trains when its data (a swept data.eval_limit, data.normal)
        leaves its test split one kind of image: the point fails untrained."""
        if OBJECTIVES[self.config.objective][0] != "score":
            return
        from caegen.score.objective import check_test_kinds

        key = json.dumps([spec.data.model_dump(mode="json"), list(spec.input)], sort_keys=True)
        if key not in self.data_checked:
            check_test_kinds(spec, self.config.objective)
            self.data_checked.add(key)

    def _scored(self, metrics: dict[str, Any], run_dir: Path) -> dict[str, Any]:
        """A trained point's metrics, with its anomaly scores when the objective is one."""
        if OBJECTIVES[self.config.objective][0] != "score":
            return metrics
        from caegen.score.objective import objective_metrics

        return {**metrics, **objective_metrics(Path(run_dir), self.config.objective)}

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
        if self.config.repeats > 1:  # a point's repeats together: its mean, not a lucky seed
            by_point: dict[str, list[tuple[float, Trial]]] = {}
            for v, t in scored:
                by_point.setdefault(point_key(split_repeat(t.point)[0]), []).append((v, t))
            scored = [(sum(v for v, _ in vts) / len(vts), vts[0][1]) for vts in by_point.values()]
        return pick(scored, key=lambda vt: vt[0])[1]

    def point_mean(self, trial: Trial) -> tuple[float, int] | None:
        """The objective's mean over the finished repeats of `trial`'s point, and their count."""
        values = split_repeat(trial.point)[0]
        scores = [
            v
            for t in self.store.trials()
            if t.state == FINISHED
            and split_repeat(t.point)[0] == values
            and (v := self.objective_value(t)) is not None
        ]
        return (sum(scores) / len(scores), len(scores)) if scores else None

    def orphaned(self, owner: str | None) -> bool:
        """Whether the process that owns a point has died (nobody holds its lock)."""
        return owner_state(self.folder, owner) == DEAD

    def tally(self) -> dict[str, int]:
        """Points by how they stand now; `running` ones have a live owner (here or on
        another machine), `orphaned` ones an owner that died."""
        counts = dict.fromkeys(
            (FINISHED, INVALID, FAILED, QUEUED, RUNNING, ORPHANED, INTERRUPTED), 0
        )
        for t in self.store.trials():
            state = t.state
            if state in (RUNNING, INTERRUPTED) and self.orphaned(t.owner):
                state = ORPHANED
            counts[state] = counts.get(state, 0) + 1
        return counts

    def verdict(
        self, tally: dict[str, int], *, budget_spent: bool, failed_workers: list[str]
    ) -> Diagnostic | None:
        """What is wrong with how the sweep ended: points lost or a worker failed (E074),
        or no point finished (E073); None when it ended well."""
        queued_lost = 0 if budget_spent else tally[QUEUED]
        lost = tally[ORPHANED] + queued_lost
        if lost or failed_workers:
            parts = []
            if tally[ORPHANED]:
                parts.append(f"{tally[ORPHANED]} orphaned (their process died mid-point)")
            if queued_lost:
                parts.append(f"{queued_lost} left queued")
            if failed_workers:
                parts.append(f"{len(failed_workers)} worker(s) failed: {'; '.join(failed_workers)}")
            again = "run the same command again: " + (
                "orphaned points resume from their checkpoints and queued ones are trained"
                if lost
                else "its points are all settled; the worker's log says what went wrong"
            )
            return Diagnostic(
                "E074",
                f"the sweep {self.folder} did not end well: " + ", ".join(parts),
                hint=again,
            )
        pending = tally[QUEUED] + tally[RUNNING] + tally[INTERRUPTED]
        if tally[FINISHED] == 0 and not pending and sum(tally.values()):
            return Diagnostic(
                "E073",
                f"no point of the sweep finished: {tally[INVALID]} invalid, {tally[FAILED]} failed",
                hint=f"see why in {self.folder / 'invalid.txt'} and the leaderboard's reason "
                "column; change the space (or the base spec) so that some points are valid",
            )
        return None

    def leaderboard(self) -> list[dict[str, Any]]:
        _, direction = OBJECTIVES[self.config.objective]
        rows = []
        for t in self.store.trials():
            m = t.metrics
            values, repeat = split_repeat(t.point)
            rows.append(
                {
                    "trial": t.number,
                    "status": {QUEUED: "queued", RUNNING: "running"}.get(t.state, t.state),
                    "objective": self.objective_value(t),
                    "point": values,
                    "repeat": repeat,
                    "seed": t.static.get("seed"),
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
                f"trial {t.number}: {json.dumps(split_repeat(t.point)[0], sort_keys=True)}\n"
                + "".join(
                    f"  {d['code']} at {d.get('where') or 'the spec'}: {d['message']}\n"
                    for d in t.diagnostics
                )
                for t in invalid
            ]
            atomic_write_text(self.folder / "invalid.txt", "".join(lines))
            best = self.best()
            if best is not None:
                data = self.space.apply(split_repeat(best.point)[0])
                data["name"] = f"{self.name}-best"
                header = (
                    f"# best of sweep {self.folder} by {self.config.objective}: trial "
                    f"{best.number}, {json.dumps(best.point, sort_keys=True)}\n"
                )
                atomic_write_text(
                    self.folder / "best.yaml", header + safe_dump(data, sort_keys=False)
                )
        except OSError as exc:
            raise unwritable(
                f"write the reports of {self.folder}", exc, "free disk space"
            ) from None


class _RunRecorder(SilentProgress):
    """Training progress of one point: signs its run directory as the sweep's own and
    records it (relative to the sweep folder) as soon as it exists."""

    def __init__(self, sweep: Sweep, number: int) -> None:
        self.sweep, self.number = sweep, number

    def start(self, info: dict[str, Any]) -> None:
        run_dir = Path(info["run_dir"])
        mark_run(run_dir, self.sweep.sweep_id, self.number)
        self.sweep.store.update(self.number, run_dir=self.sweep.stored(run_dir))


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


def _quiet_tensorflow() -> None:
    """Many models in one process make TensorFlow warn about retracing: expected here."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _recorded(d: Diagnostic) -> dict[str, Any]:
    """A diagnostic as the trial table keeps it (and invalid.txt shows it)."""
    return {"code": d.code, "message": d.message, "where": d.location.path}


def _repeats_fit(config: SweepConfig, space: Space) -> None:
    """Repeats derive train.seed: a space that sets it too would be overruled silently."""
    if config.repeats == 1:
        return
    for dim in space.dimensions:
        if any(t.parts[:2] == ("train", "seed") for t in dim.targets if not t.is_layer):
            raise error(
                "E064",
                f"`{dim.name}` sets train.seed, which --repeats {config.repeats} derives for "
                "every repeat",
                "drop that dimension (each repeat gets its own recorded seed), or drop --repeats",
            )


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
    record = sweep_record(folder)
    return hashlib.sha256(json.dumps(record["identity"], sort_keys=True).encode()).hexdigest()[:12]


def _optuna_sampler(sweep: Sweep) -> Any:
    from caegen.sweep.optuna_sampler import OptunaSampler

    return OptunaSampler(sweep)
