"""A sweep's run directories: stored relative to the sweep folder, never followed out of it.

The trial table (a file anyone can send, or a table in a shared database) names each
point's run directory. caegen stores it relative to the sweep folder and resolves it
against the folder on every use, so a copied or moved sweep works where it lies and the
cwd never matters. A stored path that leaves the folder's `runs/` (an absolute path
elsewhere, `..`, a symlink out) is refused with E070, never read, trained or removed.

A run directory the sweep creates gets a marker naming its sweep and trial; a stub (a run
that no epoch reached) is removed only when it carries the marker of that very trial.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from caegen.core.diagnostics import CaegenError, error
from caegen.core.fsutil import atomic_write_text

MARKER = ".caegen-sweep-trial"
"""In every run directory a sweep creates: {"sweep": its id, "trial": the point's number}."""


def stored_path(folder: Path, run_dir: str | Path) -> str:
    """How the trial table keeps a run directory: relative to the sweep folder, POSIX."""
    resolved = Path(run_dir).resolve()
    return resolved.relative_to(folder.resolve()).as_posix()


def contained_run(folder: Path, stored: str, sweep_id: str, number: int) -> Path:
    """The run directory `stored` names, resolved inside `folder`'s runs/ (E070 if not,
    or if the sweep signed it for another trial).

    Relative paths are read against the folder; absolute ones (older sweeps) are accepted
    only when they lie inside it. Symlinks are resolved before the check."""
    root = folder.resolve()
    path = Path(stored)
    resolved = (path if path.is_absolute() else root / path).resolve()
    runs = root / "runs"
    if resolved == runs or not resolved.is_relative_to(runs):
        raise error(
            "E070",
            f"trial {number}'s run directory `{stored}` is outside the sweep folder {folder} "
            "(refused: a sweep reads, trains and removes only its own runs/)",
            "the sweep's database was edited or copied from elsewhere: set that trial's "
            "run_dir to a path under runs/, or clear it to train the point again",
        )
    if (resolved / MARKER).exists() and not marked_for(resolved, sweep_id, number):
        raise error(
            "E070",
            f"trial {number}'s run directory `{stored}` belongs to another point "
            "(its marker names another trial); refused",
            "the sweep's database was edited: clear that trial's run_dir to train it again",
        )
    return resolved


def mark_run(run_dir: Path, sweep_id: str, number: int) -> None:
    """Sign a run directory as the sweep's own, for trial `number`."""
    atomic_write_text(run_dir / MARKER, json.dumps({"sweep": sweep_id, "trial": number}) + "\n")


def marked_for(run_dir: Path, sweep_id: str, number: int) -> bool:
    """Whether the sweep created `run_dir` for trial `number` (its marker says so)."""
    try:
        mark = json.loads((run_dir / MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(mark, dict) and mark == {"sweep": sweep_id, "trial": number}


def remove_stub(run_dir: Path, sweep_id: str, number: int) -> bool:
    """Remove a run directory that no epoch reached, if the sweep made it for this trial
    and no process trains it; True when it is gone."""
    from caegen.training.rundir import LAST, PREVIOUS, Run

    if run_dir.is_symlink() or not run_dir.is_dir() or not marked_for(run_dir, sweep_id, number):
        return False
    if (run_dir / LAST).exists() or (run_dir / PREVIOUS).exists():
        return False
    try:
        if Run(run_dir).is_live():
            return False
    except CaegenError:
        pass  # a damaged status: the lock file alone says nobody trains it
    shutil.rmtree(run_dir, ignore_errors=True)
    return not run_dir.exists()
