"""A run directory as one object: its spec, status and owner, checkpoints, history, results.

`runs/<name>/<timestamp>/` holds the resolved `spec.yaml`, `status.json`, the models,
`history.csv`, `metrics.json`, the figures, TensorBoard events and `checkpoints/` (see the
README). `Run` owns every file format and every transition; no command reads a run's files
by hand. Every file is written atomically (fsynced, then renamed into place), and every
damaged file is answered with E059 naming it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import socket
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from caegen.core.diagnostics import CaegenError, error
from caegen.core.fsutil import (
    atomic_write_text,
    ensure_parent,
    fsync_dir,
    fsync_file,
    os_error_reason,
    unwritable,
)
from caegen.spec.schema import Spec
from caegen.spec.yamlpos import safe_dump

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: liveness falls back to the pid
    fcntl = None  # type: ignore[assignment]

SPEC = "spec.yaml"
STATUS = "status.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
SCORER = "scorer.json"
"""How `caegen score` last scored the run: the map, the threshold and how it was chosen."""
PER_IMAGE = "per_image.csv"
SWEEP_RECORD = "sweep.json"  # marks a sweep directory (it holds a spec.yaml too: not a run)
LOCK = ".lock"
JOB = "job.json"
CHECKPOINTS = Path("checkpoints")
LAST = CHECKPOINTS / "last.keras"
PREVIOUS = CHECKPOINTS / "previous.keras"
STATE = CHECKPOINTS / "state.json"
MODEL_FILES = {"autoencoder": "model.keras", "encoder": "encoder.keras", "decoder": "decoder.keras"}
HISTORY_FIELDS = (
    "epoch",
    "loss",
    "val_loss",
    "reconstruction_error",
    "val_reconstruction_error",
    "kl",
    "val_kl",
    "images_per_s",
    "seconds",
)
"""`loss` includes the regularization penalty (weight decay, layer regularizers) and, for
a VAE, the weighted KL term; the reconstruction errors are the loss function alone (per
pixel); `kl` is a VAE's KL divergence per image (empty for other autoencoders)."""
PER_IMAGE_FIELDS = ("image", "mse", "psnr", "ssim")
DENOISING_PER_IMAGE_FIELDS = ("noisy_mse", "noisy_psnr", "noisy_ssim")
"""per_image.csv: one row per test image scored, in test-split order; `image` is its
0-based index in the test split. A denoiser's file adds the noisy input's scores against
the clean image. An empty cell is a score that was not computed (SSIM on images smaller
than its 7x7 window)."""

# How a run stands. A "running" run whose owner is gone is reported as "killed".
RUNNING, FINISHED, INTERRUPTED, DIVERGED, FAILED, KILLED = (
    "running",
    "finished",
    "interrupted",
    "diverged",
    "failed",
    "killed",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _damaged(path: Path, what: str, hint: str) -> CaegenError:
    return error("E059", f"{path} is damaged: {what}", hint)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _intact_zip(path: Path) -> str | None:
    """None when the .keras archive reads back whole (every member's CRC), else why not."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        return f"not a readable .keras archive ({exc})"
    if bad is not None:
        return f"member {bad} fails its checksum"
    if "config.json" not in names:
        return "not a Keras model archive (no config.json)"
    return None


@dataclass(frozen=True)
class Status:
    """How a run stands: `state`, the last checkpointed `epoch`, and why it ended."""

    state: str
    epoch: int = 0
    reason: str | None = None
    pid: int | None = None
    host: str | None = None
    started: str | None = None
    updated: str | None = None

    def describe(self) -> str:
        text = f"{self.state} after epoch {self.epoch}"
        if self.state == RUNNING and self.host:
            text += f" (pid {self.pid} on {self.host})"
        return text + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    epoch: int
    warnings: tuple[str, ...] = ()


class Run:
    """One run directory. Create with `Run.create`, find with `Run.find` or `Run(path)`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._spec: Spec | None = None
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- finding and creating --------------------------------------------------------------
    @classmethod
    def create(cls, out: Path, spec: Spec, job: str | None = None) -> Run:
        """runs/<name>/<timestamp>/, created fresh (never reused), owned by this process.

        `job`: the multi-worker job it belongs to, so that the job, restarted, continues it.
        """
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        base = Path(out) / spec.name
        for suffix in ["", *(f"-{i}" for i in range(2, 1000))]:
            candidate = base / f"{stamp}{suffix}"
            try:
                ensure_parent(candidate)
                candidate.mkdir()
            except FileExistsError:
                continue  # taken: try the next suffix
            except OSError as exc:
                what = f"create the run directory {candidate}"
                raise unwritable(what, exc, "pass another --out") from None
            try:
                run = cls(candidate)
                run.claim()
                run._write_spec(spec)
                if job is not None:
                    atomic_write_text(candidate / JOB, json.dumps({"job": job}) + "\n")
            except BaseException:  # Ctrl-C while writing it: no half run for a sweep to miss
                shutil.rmtree(candidate, ignore_errors=True)
                raise
            return run
        raise error("E050", f"too many runs named {stamp} in {base}", "pass another --out")

    @classmethod
    def find(cls, path: Path, purpose: str = "any") -> Run:
        """A run directory, or the latest fitting run inside runs/<name>/.

        `purpose`: "export" wants a finished run, "resume" one with a checkpoint, "any"
        takes the latest. Stubs of runs that failed early never hide the good ones.
        """
        path = Path(path)
        try:
            _refuse_sweep(path)
            if (path / SPEC).exists():
                return cls(path)
            children = [p for p in path.iterdir() if (p / SPEC).exists()] if path.is_dir() else []
            runs = sorted(cls(p) for p in children if not (p / SWEEP_RECORD).exists())
        except OSError as exc:
            raise error(
                "E052", f"cannot read {path}: {os_error_reason(exc)}", "pass a run directory"
            ) from None
        if children and not runs:
            raise error(
                "E052",
                f"{path} holds sweep directories, not runs",
                "pass one run of a sweep (<sweep>/runs/<name>/<timestamp>); "
                "`caegen compare` takes whole sweeps",
            )
        if not runs:
            raise error(
                "E052",
                f"{path} is not a caegen run directory (no {SPEC})",
                "pass runs/<name>/<timestamp> as written by `caegen train`, or runs/<name>"
                + _existing_runs_hint(path),
            )
        fitting = [r for r in runs if r._fits(purpose)]
        if fitting:
            return fitting[-1]
        listing = "; ".join(f"{r.path.name}: {r.status_or_unknown()}" for r in runs[-5:])
        wanted = {"export": "finished", "resume": "resumable"}.get(purpose, "usable")
        raise error(
            "E052",
            f"no {wanted} run under {path} ({listing})",
            "pass one run directory explicitly, or train the spec again",
        )

    @classmethod
    def unfinished_job(cls, folder: Path, job: str) -> Run | None:
        """The latest run of multi-worker `job` under runs/<name>/ that stopped before
        finishing and holds a checkpoint (what a restarted job continues)."""
        if not folder.is_dir():
            return None
        for run in sorted((cls(p) for p in folder.iterdir() if (p / JOB).exists()), reverse=True):
            try:
                status = run.status()
            except CaegenError:
                continue
            if run.job() == job and status.state != FINISHED and not run.is_live(status):
                return run if run._fits("resume") else None
        return None

    def job(self) -> str | None:
        """The multi-worker job this run belongs to (None: a single-process run)."""
        try:
            return json.loads((self.path / JOB).read_text()).get("job")
        except (OSError, ValueError, AttributeError):
            return None

    def __lt__(self, other: Run) -> bool:
        return self.path.name < other.path.name

    def _fits(self, purpose: str) -> bool:
        try:
            if purpose == "export":
                return (self.path / MODEL_FILES["autoencoder"]).exists() and (
                    self.status().state == FINISHED
                )
            if purpose == "resume":
                return (self.path / LAST).exists() or (self.path / PREVIOUS).exists()
        except CaegenError:
            return False
        return True

    def status_or_unknown(self) -> str:
        try:
            return self.status().describe()
        except CaegenError:
            return "status unreadable"

    # --- spec ------------------------------------------------------------------------------
    def _write_spec(self, spec: Spec) -> None:
        header = (
            "# resolved by caegen train; every default filled in\n"
            f"# spec-hash: {spec.spec_hash()}\n"
        )
        text = header + safe_dump(spec.resolved(), sort_keys=False)
        atomic_write_text(self.path / SPEC, text)
        self._spec = spec

    @property
    def spec(self) -> Spec:
        if self._spec is None:
            from caegen.spec.loader import load

            try:
                self._spec = load(self.path / SPEC)
            except CaegenError as exc:
                first = exc.diagnostics[0]
                raise _damaged(
                    self.path / SPEC,
                    f"{first.code} {first.message}",
                    "restore it from the spec you trained with (the run's other files are intact)",
                ) from None
        return self._spec

    # --- status and owner ------------------------------------------------------------------
    def status(self) -> Status:
        """The recorded status; a "running" run whose process is gone reads as "killed"."""
        path = self.path / STATUS
        if not path.exists():
            return self._legacy_status()
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            status = Status(**data)
            if status.state not in (RUNNING, FINISHED, INTERRUPTED, DIVERGED, FAILED):
                raise ValueError(f"unknown state {status.state!r}")
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise _damaged(path, str(exc), "delete it: caegen then infers the status") from None
        if status.state == RUNNING and not self.is_live(status):
            reason = f"process {status.pid} on {status.host} stopped without recording why"
            return Status(KILLED, status.epoch, reason, status.pid, status.host, status.started)
        return status

    def _legacy_status(self) -> Status:
        """A run written before status.json existed, judged from its files."""
        if (self.path / METRICS).exists():
            return Status(FINISHED, len(self.history()))
        if (self.path / STATE).exists():
            return Status(INTERRUPTED, self._state().get("epoch", 0))
        return Status(FAILED, 0, "no epoch finished")

    def is_live(self, status: Status | None = None) -> bool:
        """Whether a process is training this run now (this one included)."""
        if self._lock_fd is not None:
            return True
        status = status or self.status()
        if status.state != RUNNING:
            return False
        if status.host != socket.gethostname():
            return True  # another machine's process: it cannot be checked from here
        if fcntl is None:
            return _pid_alive(status.pid)
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # somebody holds the lock
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def claim(self) -> None:
        """Become the run's only writer (E060 if a live process trains it)."""
        if self._lock_fd is not None:
            return
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise unwritable(f"lock {self.path}", exc, "check the folder's permissions") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._busy() from None
        elif (self.path / STATUS).exists() and self.is_live():
            os.close(fd)
            raise self._busy()
        self._lock_fd = fd
        epoch = self._state().get("epoch", 0) if (self.path / STATE).exists() else 0
        self.mark(RUNNING, epoch)

    def _busy(self) -> CaegenError:
        status = self.status()
        return error(
            "E060",
            f"{self.path} is being trained now ({status.describe()})",
            "wait for it to finish, or stop it (Ctrl-C) and then resume it",
        )

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def mark(self, state: str, epoch: int, reason: str | None = None) -> None:
        """Record a transition (atomically); the owner is this process."""
        previous = self._read_status_quietly()
        pid, host = os.getpid(), socket.gethostname()
        same_owner = previous is not None and (previous.pid, previous.host) == (pid, host)
        started = previous.started if same_owner and previous else _now()
        status = Status(state, epoch, reason, pid, host, started, _now())
        atomic_write_text(self.path / STATUS, json.dumps(asdict(status), indent=2) + "\n")

    def _read_status_quietly(self) -> Status | None:
        try:
            return Status(**json.loads((self.path / STATUS).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    # --- checkpoints -----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        path = self.path / STATE
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("epoch"), int):
                raise ValueError("no epoch recorded")
            return data
        except FileNotFoundError:
            raise error(
                "E052",
                f"{self.path} has no checkpoint to resume from",
                "a run can be resumed once it has finished at least one epoch",
            ) from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise _damaged(
                path,
                str(exc),
                f"the run cannot be resumed; train {self.path / SPEC} again as a new run",
            ) from None

    def save_checkpoint(self, model: Any, epoch: int) -> None:
        """Keep `model` as the last checkpoint and the one before as the previous.

        The new file is saved beside the others, fsynced and read back (every member's
        CRC) before it replaces anything; state.json names each file with its epoch and
        hash, so a crash between the renames is noticed and the intact file used.
        """
        tmp = self.path / CHECKPOINTS / ".last.tmp.keras"
        last, previous = self.path / LAST, self.path / PREVIOUS
        try:
            ensure_parent(tmp)
            model.save(tmp)
            fsync_file(tmp)
            problem = _intact_zip(tmp)
            if problem is not None:
                raise OSError(f"the checkpoint read back damaged: {problem}")
            entries = [{"file": LAST.name, "epoch": epoch, "sha256": _sha256(tmp)}]
            old = self._state().get("checkpoints", []) if (self.path / STATE).exists() else []
            old_last = [e for e in old if e.get("file") == LAST.name]
            if last.exists():
                os.replace(last, previous)
                entries += [{**e, "file": PREVIOUS.name} for e in old_last]
            os.replace(tmp, last)
            fsync_dir(last.parent)
            state = {"epoch": epoch, "checkpoints": entries}
            atomic_write_text(self.path / STATE, json.dumps(state, indent=2) + "\n")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise unwritable(
                f"write the checkpoint of epoch {epoch} to {last}",
                exc,
                "free disk space, then continue with `caegen train --resume "
                f"{self.path}`; the previous checkpoint is intact",
            ) from None

    def checkpoint(self) -> Checkpoint:
        """The newest intact checkpoint; a damaged last one falls back to the previous."""
        state = self._state()
        entries = state.get("checkpoints") or [{"file": LAST.name, "epoch": state["epoch"]}]
        candidates = {p.name: p for p in (self.path / LAST, self.path / PREVIOUS) if p.exists()}
        hashes = {name: _sha256(p) for name, p in candidates.items()}
        warnings: list[str] = []
        for entry in sorted(entries, key=lambda e: -int(e.get("epoch", 0))):
            epoch = int(entry["epoch"])
            want = entry.get("sha256")
            # a crash between the renames moves a file: find it by its hash
            names = [n for n, h in hashes.items() if h == want] if want else [entry["file"]]
            names = [n for n in names if n in candidates]
            problem = None if names else "missing or changed since it was written"
            if names:
                problem = _intact_zip(candidates[names[0]])
            if problem is None:
                return Checkpoint(candidates[names[0]], epoch, tuple(warnings))
            warnings.append(
                f"the checkpoint of epoch {epoch} ({self.path / CHECKPOINTS / entry['file']}) "
                f"is {problem}; falling back to the one before"
            )
        raise _damaged(
            self.path / CHECKPOINTS,
            "no intact checkpoint (" + "; ".join(warnings) + ")",
            f"the run cannot be resumed; train {self.path / SPEC} again as a new run",
        )

    def load_checkpoint(self, checkpoint: Checkpoint) -> Any:
        return self._load_keras(checkpoint.path, "resume from the previous checkpoint")

    # --- history ---------------------------------------------------------------------------
    def write_history(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path / HISTORY, buf.getvalue())

    def history(self) -> list[dict[str, Any]]:
        """The rows of history.csv, epochs 1..N in order (E059 when it is not that)."""
        path = self.path / HISTORY
        if not path.exists():
            return []
        try:
            text = path.read_bytes().decode("utf-8")
            if "\0" in text:
                raise ValueError("it contains NUL bytes")
            rows = list(csv.DictReader(io.StringIO(text)))
            out = [_history_row(row) for row in rows]
        except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
            raise _damaged(
                path, str(exc), "delete it to resume without the earlier epochs' rows"
            ) from None
        if [r["epoch"] for r in out] != list(range(1, len(out) + 1)):
            raise _damaged(
                path,
                f"epochs {[r['epoch'] for r in out][:10]} are not 1, 2, 3, ...",
                "delete it to resume without the earlier epochs' rows",
            )
        return out

    # --- results ---------------------------------------------------------------------------
    def save_models(self, models: dict[str, Any]) -> None:
        """model.keras, encoder.keras, decoder.keras (None parts are skipped)."""
        for part, model in models.items():
            if model is not None:
                save_keras_atomic(model, self.path / MODEL_FILES[part])

    def has_model(self, part: str) -> bool:
        return (self.path / MODEL_FILES[part]).exists()

    def load_model(self, part: str) -> Any:
        path = self.path / MODEL_FILES[part]
        if not path.exists():
            status = self.status()
            if part == "autoencoder" or status.state != FINISHED:
                raise error(
                    "E052",
                    f"{self.path} has no {path.name} ({status.describe()})",
                    self.next_step(status),
                )
            raise error(
                "E052",
                f"{path} is missing",
                f"re-create it: `caegen train --resume {self.path} --epochs N` with N above "
                f"{status.epoch} writes every model again",
            )
        return self._load_keras(path, "train the run again, or restore the file")

    def next_step(self, status: Status) -> str:
        if status.state == RUNNING:
            return "it is training now: wait for it to finish"
        if (self.path / LAST).exists():
            return f"finish it with `caegen train --resume {self.path} --epochs N`"
        return "no epoch finished, so nothing was kept: train the spec again"

    def _load_keras(self, path: Path, hint: str) -> Any:
        problem = _intact_zip(path)
        if problem is not None:
            raise _damaged(path, problem, hint)
        import keras

        import caegen.spec.layers.keras_layers  # noqa: F401  (registers caegen's layers, e.g. Sampling)
        from caegen.training import losses as _losses  # noqa: F401  (registers SSIMLoss)

        try:
            return keras.saving.load_model(path, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a malformed archive
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            what = f"Keras cannot load it ({type(exc).__name__}: {first})"
            raise _damaged(path, what, hint) from None

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_text(self.path / METRICS, json.dumps(metrics, indent=2) + "\n")

    def metrics(self) -> dict[str, Any]:
        path = self.path / METRICS
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except FileNotFoundError:
            hint = self.next_step(self.status())
            raise error("E052", f"{self.path} has no {METRICS}", hint) from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise _damaged(path, str(exc), "train the run again to recompute it") from None

    def write_scorer(self, record: dict[str, Any]) -> None:
        atomic_write_text(self.path / SCORER, json.dumps(record, indent=2) + "\n")

    def scorer(self) -> dict[str, Any]:
        """The scorer `caegen score` recorded (E052 when the run was never scored)."""
        path = self.path / SCORER
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("threshold"), dict):
                raise ValueError("no threshold recorded")
            return data
        except FileNotFoundError:
            raise error(
                "E052",
                f"{self.path} has not been scored: it holds no {SCORER}",
                f"run `caegen score {self.path}` first: it chooses the threshold",
            ) from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise _damaged(path, str(exc), f"run `caegen score {self.path}` again") from None

    def write_per_image(self, columns: dict[str, Any]) -> None:
        """per_image.csv from equal-length columns: `image` and the scores (see
        PER_IMAGE_FIELDS); None or NaN scores are written as empty cells."""
        names = [n for n in (*PER_IMAGE_FIELDS, *DENOISING_PER_IMAGE_FIELDS) if n in columns]
        lengths = {len(columns[n]) for n in names}
        if "image" not in columns or len(lengths) != 1:
            raise ValueError("per-image columns need `image` and equal lengths")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        for i in range(lengths.pop()):
            writer.writerow([_cell(columns[n][i], whole=n == "image") for n in names])
        atomic_write_text(self.path / PER_IMAGE, buf.getvalue())

    def per_image(self) -> dict[str, Any] | None:
        """The per-image test scores as numpy arrays by column (`image` as integers, empty
        cells as NaN); None for a run written before per_image.csv existed (E059 when the
        file cannot be read back)."""
        path = self.path / PER_IMAGE
        if not path.exists():
            return None
        try:
            text = path.read_bytes().decode("utf-8")
            if "\0" in text:
                raise ValueError("it contains NUL bytes")
            return _per_image_columns(list(csv.reader(io.StringIO(text))))
        except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
            raise _damaged(path, str(exc), "train the run again to recompute it") from None


def _cell(value: Any, whole: bool) -> str:
    if value is None:
        return ""
    number = float(value)
    if whole:
        return str(int(number))
    return repr(number) if math.isfinite(number) else ""


def _per_image_columns(rows: list[list[str]]) -> dict[str, Any]:
    if not rows:
        raise ValueError("it is empty")
    header, body = rows[0], rows[1:]
    missing = [f for f in PER_IMAGE_FIELDS if f not in header]
    if missing or len(set(header)) != len(header):
        raise ValueError(f"its header {header[:8]} lacks {missing or 'unique names'}")
    if not body:
        raise ValueError("it has no rows")
    if any(len(row) != len(header) for row in body):
        raise ValueError(f"rows do not all have {len(header)} cells")
    known = (*PER_IMAGE_FIELDS, *DENOISING_PER_IMAGE_FIELDS)
    out = {
        name: _per_image_column(name, [row[i] for row in body])
        for i, name in enumerate(header)
        if name in known
    }
    if len(set(out["image"].tolist())) != len(body):
        raise ValueError("an image index appears twice")
    return out


def _per_image_column(name: str, cells: list[str]) -> Any:
    import numpy as np

    if name == "image":
        bad = [c for c in cells if not (c.isascii() and c.isdigit())]
        if bad:
            raise ValueError(f"image index {bad[0]!r} is not a whole number")
        return np.array([int(c) for c in cells], dtype=np.int64)
    values = []
    for cell in cells:
        try:
            values.append(float(cell) if cell.strip() else math.nan)
        except ValueError:
            raise ValueError(f"{name} {cell!r} is not a number") from None
    return np.array(values, dtype=np.float64)


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in HISTORY_FIELDS:
        value = row.get(key)
        if key == "epoch":
            if value is None or not value.isdigit():
                raise ValueError(f"epoch {value!r} is not a whole number")
            out[key] = int(value)
        elif value in ("", None):
            out[key] = None
        else:
            number = float(value)
            if key in ("loss", "val_loss") and not math.isfinite(number):
                raise ValueError(f"{key} {value!r} in epoch {out['epoch']}")
            out[key] = number
    return out


def _refuse_sweep(path: Path) -> None:
    """A sweep directory holds a spec.yaml (its base spec) but is not a run."""
    if (path / SWEEP_RECORD).exists():
        raise error(
            "E052",
            f"{path} is a sweep directory, not a run",
            "pass one of its runs (<sweep>/runs/<name>/<timestamp>); "
            "`caegen compare` takes whole sweeps",
        )


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _existing_runs_hint(path: Path) -> str:
    """The runs/<name> folders beside a path that is not one (a typo in the name)."""
    parent = path.parent if not path.is_dir() else path
    names = (
        sorted(p.name for p in parent.iterdir() if p.is_dir() and any(p.glob(f"*/{SPEC}")))
        if parent.is_dir()
        else []
    )
    return f" (runs under {parent}: {', '.join(names[:10])})" if names else ""


def save_keras_atomic(model: Any, path: Path) -> None:
    """Save a Keras model beside `path`, fsync it, then rename it into place."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        ensure_parent(path)
        model.save(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise unwritable(f"write {path}", exc, "free disk space or pass another --out") from None
