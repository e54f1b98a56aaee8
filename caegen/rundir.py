"""The run directory: created fresh, found again, and its files written atomically.

`runs/<name>/<timestamp>/` holds the resolved `spec.yaml`, the models, `history.csv`,
`metrics.json`, the figures, TensorBoard events and `checkpoints/` (see the README).
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from caegen.diagnostics import error
from caegen.fsutil import atomic_write_text, ensure_parent, unwritable
from caegen.spec import Spec

CHECKPOINT = Path("checkpoints") / "last.keras"
STATE = Path("checkpoints") / "state.json"
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "images_per_s", "seconds")


def new_run_dir(out: Path, name: str) -> Path:
    """runs/<name>/<timestamp>/, created fresh; an existing directory is never reused."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = out / name
    for suffix in ["", *(f"-{i}" for i in range(2, 1000))]:
        candidate = base / f"{stamp}{suffix}"
        try:
            ensure_parent(candidate)
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue  # taken: try the next suffix
        except OSError as exc:
            what = f"create the run directory {candidate}"
            raise unwritable(what, exc, "pass another --out") from None
    raise error("E050", f"too many runs named {stamp} in {base}", "pass another --out")


def resolve_run_dir(path: Path) -> Path:
    """A run directory, or the latest run inside runs/<name>/."""
    if (path / "spec.yaml").exists():
        return path
    runs = sorted(p for p in path.glob("*/") if (p / "spec.yaml").exists()) if path.is_dir() else []
    if runs:
        return runs[-1]
    raise error(
        "E052",
        f"{path} is not a caegen run directory (no spec.yaml)",
        "pass runs/<name>/<timestamp> as written by `caegen train`, or runs/<name>",
    )


def write_run_spec(run_dir: Path, spec: Spec) -> None:
    header = (
        f"# resolved by caegen train; every default filled in\n# spec-hash: {spec.spec_hash()}\n"
    )
    atomic_write_text(
        run_dir / "spec.yaml", header + yaml.safe_dump(spec.resolved(), sort_keys=False)
    )


def save_keras_atomic(model: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    ensure_parent(path)
    model.save(tmp)
    os.replace(tmp, path)


def write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_dir / "history.csv", buf.getvalue())


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "history.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return [
            {
                k: (int(v) if k == "epoch" else float(v)) if v not in ("", None) else None
                for k, v in row.items()
            }
            for row in csv.DictReader(f)
        ]
