"""A sweep's trials in SQLite: every point once, claimed by one process at a time.

The database is the sweep's only shared state: several processes (`--jobs N`, or several
machines on one file system) claim queued points in a transaction, so no point is trained
twice and none is lost. A point whose owner died is queued again and its run resumed.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUED, RUNNING, FINISHED, FAILED, INVALID, INTERRUPTED = (
    "queued",
    "running",
    "finished",
    "failed",
    "invalid",
    "interrupted",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS caegen_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS caegen_trials (
    number INTEGER PRIMARY KEY,
    point TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    diagnostics TEXT,
    static TEXT,
    metrics TEXT,
    run_dir TEXT,
    owner TEXT,
    external INTEGER,
    check_ms REAL,
    started REAL,
    updated REAL
);
"""


@dataclass
class Trial:
    number: int
    point: dict[str, Any]
    state: str
    diagnostics: list[dict[str, Any]]
    static: dict[str, Any]
    metrics: dict[str, Any]
    run_dir: str | None
    owner: str | None
    external: int | None
    check_ms: float | None
    started: float | None
    updated: float | None


def owner_id() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def _owner_alive(owner: str | None) -> bool:
    if not owner or "@" not in owner:
        return False
    pid, host = owner.split("@", 1)
    if host != socket.gethostname():
        return True  # another machine's process: it cannot be checked from here
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One writer at a time across processes (BEGIN IMMEDIATE takes the write lock)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- metadata ------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM caegen_meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO caegen_meta (key, value) VALUES (?, ?)",
            (key, json.dumps(value)),
        )

    # --- trials ----------------------------------------------------------------------------
    def add(
        self,
        point_key: str,
        state: str,
        *,
        diagnostics: list[dict[str, Any]] | None = None,
        static: dict[str, Any] | None = None,
        check_ms: float | None = None,
        external: int | None = None,
    ) -> int | None:
        """Record a point once, numbered next (None when it is known already)."""
        with self.transaction() as db:
            exists = db.execute("SELECT number FROM caegen_trials WHERE point = ?", (point_key,))
            if exists.fetchone():
                return None
            number = db.execute(
                "SELECT COALESCE(MAX(number) + 1, 0) FROM caegen_trials"
            ).fetchone()[0]
            db.execute(
                "INSERT INTO caegen_trials (number, point, state, diagnostics, static, "
                "check_ms, external, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    number,
                    point_key,
                    state,
                    json.dumps(diagnostics or []),
                    json.dumps(static or {}),
                    check_ms,
                    external,
                    time.time(),
                ),
            )
        return int(number)

    def requeue_orphans(self) -> int:
        """Points whose owner died while training them go back to the queue."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT number, owner FROM caegen_trials WHERE state IN (?, ?)",
                (RUNNING, INTERRUPTED),
            ).fetchall()
            orphans = [n for n, owner in rows if not _owner_alive(owner)]
            for number in orphans:
                db.execute(
                    "UPDATE caegen_trials SET state = ?, owner = NULL WHERE number = ?",
                    (QUEUED, number),
                )
        return len(orphans)

    def claim(self) -> Trial | None:
        """The next queued point, now owned by this process."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT number FROM caegen_trials WHERE state = ? ORDER BY number LIMIT 1",
                (QUEUED,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE caegen_trials SET state = ?, owner = ?, started = ?, updated = ? "
                "WHERE number = ?",
                (RUNNING, owner_id(), time.time(), time.time(), row[0]),
            )
        return self.trial(row[0])

    def update(self, number: int, **fields: Any) -> None:
        encoded = {
            k: json.dumps(v) if k in ("metrics", "static", "diagnostics") else v
            for k, v in fields.items()
        }
        encoded["updated"] = time.time()
        columns = ", ".join(f"{k} = ?" for k in encoded)
        with self.transaction() as db:
            db.execute(
                f"UPDATE caegen_trials SET {columns} WHERE number = ?",
                (*encoded.values(), number),
            )

    def trial(self, number: int) -> Trial:
        row = self.db.execute(
            "SELECT number, point, state, diagnostics, static, metrics, run_dir, owner, "
            "external, check_ms, started, updated FROM caegen_trials WHERE number = ?",
            (number,),
        ).fetchone()
        return _trial(row)

    def trials(self) -> list[Trial]:
        rows = self.db.execute(
            "SELECT number, point, state, diagnostics, static, metrics, run_dir, owner, "
            "external, check_ms, started, updated FROM caegen_trials ORDER BY number"
        ).fetchall()
        return [_trial(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM caegen_trials GROUP BY state")
        return dict(rows.fetchall())


def _trial(row: tuple[Any, ...]) -> Trial:
    return Trial(
        number=row[0],
        point=json.loads(row[1]),
        state=row[2],
        diagnostics=json.loads(row[3] or "[]"),
        static=json.loads(row[4] or "{}"),
        metrics=json.loads(row[5] or "{}"),
        run_dir=row[6],
        owner=row[7],
        external=row[8],
        check_ms=row[9],
        started=row[10],
        updated=row[11],
    )
