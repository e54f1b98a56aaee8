"""A sweep's trials in a database: every point once, claimed by one process at a time.

The database is the sweep's only shared state: several processes (`--jobs N`, or several
machines sharing a SQLite file or a PostgreSQL/MySQL database) claim queued points in a
transaction, so no point is trained twice and none is lost. A point whose owner died is
queued again and its run resumed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caegen.sweep.db import Conflict, Database

QUEUED, RUNNING, FINISHED, FAILED, INVALID, INTERRUPTED = (
    "queued",
    "running",
    "finished",
    "failed",
    "invalid",
    "interrupted",
)
COLUMNS = (
    "number",
    "point",
    "state",
    "diagnostics",
    "static",
    "metrics",
    "run_dir",
    "owner",
    "external",
    "check_ms",
    "started",
    "updated",
)
RETRIES = 50


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
    """The trial table of one sweep, in a SQLite file or (`--storage URL`) a shared RDB.

    Every change is a short transaction whose guard is in its own statement (a point is
    claimed only `WHERE state = 'queued'`; a point is added once, by its unique key), so
    several processes or machines can share the tables; a lost race is retried. `prefix`
    keeps several sweeps apart in one shared database.
    """

    def __init__(self, db: Database, prefix: str = "caegen", owner: str | None = None) -> None:
        self.db = db
        self.owner = owner or owner_id()
        """Recorded on the points this process claims."""
        self.trials_table = f"{prefix}_trials"
        self.meta_table = f"{prefix}_meta"
        self.db.create(self.trials_table, self.meta_table)

    @property
    def url(self) -> str:
        return self.db.url

    def close(self) -> None:
        self.db.close()

    # --- metadata ------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        k = self.db.quote("key")
        rows = self.db.read(f"SELECT value FROM {self.meta_table} WHERE {k} = :k", k=key)
        return json.loads(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        k, encoded = self.db.quote("key"), json.dumps(value)
        for _ in range(RETRIES):
            try:
                with self.db.transaction() as tx:
                    if not tx.change(
                        f"UPDATE {self.meta_table} SET value = :v WHERE {k} = :k", k=key, v=encoded
                    ):
                        tx.change(
                            f"INSERT INTO {self.meta_table} ({k}, value) VALUES (:k, :v)",
                            k=key,
                            v=encoded,
                        )
                return
            except Conflict:
                continue  # another process inserted it first: update it
        raise RuntimeError(f"could not record {key} in the sweep database")

    def bump(self, key: str, start: int = 0) -> int:
        """Add one to a counter (`start` when it is new); the counter's new value. Every
        process sharing the database sees each increment once (compare-and-set)."""
        k = self.db.quote("key")
        for _ in range(RETRIES * 20):
            current = self.get_meta(key)
            try:
                with self.db.transaction() as tx:
                    if current is None:
                        tx.change(
                            f"INSERT INTO {self.meta_table} ({k}, value) VALUES (:k, :v)",
                            k=key,
                            v=json.dumps(start + 1),
                        )
                        return start + 1
                    if tx.change(
                        f"UPDATE {self.meta_table} SET value = :new "
                        f"WHERE {k} = :k AND value = :old",
                        k=key,
                        new=json.dumps(int(current) + 1),
                        old=json.dumps(current),
                    ):
                        return int(current) + 1
            except Conflict:
                pass  # another process counted first: count again
        raise RuntimeError(f"could not count {key} in the sweep database")

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
        for _ in range(RETRIES):
            try:
                with self.db.transaction() as tx:
                    known = f"SELECT number FROM {self.trials_table} WHERE point = :p"
                    if tx.rows(known, p=point_key):
                        return None
                    next_number = f"SELECT COALESCE(MAX(number) + 1, 0) FROM {self.trials_table}"
                    number = int(tx.rows(next_number)[0][0])
                    tx.change(
                        f"INSERT INTO {self.trials_table} (number, point, state, diagnostics, "
                        "static, check_ms, external, updated) VALUES (:number, :point, :state, "
                        ":diagnostics, :static, :check_ms, :external, :updated)",
                        number=number,
                        point=point_key,
                        state=state,
                        diagnostics=json.dumps(diagnostics or []),
                        static=json.dumps(static or {}),
                        check_ms=check_ms,
                        external=external,
                        updated=time.time(),
                    )
                return number
            except Conflict:
                continue  # another process took this number or this point first: look again
        raise RuntimeError("could not record a point in the sweep database")

    def requeue_orphans(self, orphaned: Callable[[str | None], bool] | None = None) -> int:
        """Points whose owner died while training them go back to the queue; `orphaned`
        judges an owner (default: its pid, on this machine)."""
        orphaned = orphaned or (lambda owner: not _owner_alive(owner))
        rows = self.db.read(
            f"SELECT number, owner FROM {self.trials_table} WHERE state IN (:a, :b)",
            a=RUNNING,
            b=INTERRUPTED,
        )
        requeued = 0
        for number, owner in rows:
            if not orphaned(owner):
                continue
            with self.db.transaction() as tx:
                requeued += tx.change(
                    f"UPDATE {self.trials_table} SET state = :queued, owner = NULL "
                    "WHERE number = :n AND state IN (:a, :b) AND owner = :owner",
                    queued=QUEUED,
                    n=number,
                    a=RUNNING,
                    b=INTERRUPTED,
                    owner=owner,
                )
        return requeued

    def claim(self) -> Trial | None:
        """The next queued point, now owned by this process."""
        while True:
            rows = self.db.read(
                f"SELECT number FROM {self.trials_table} WHERE state = :q ORDER BY number LIMIT 1",
                q=QUEUED,
            )
            if not rows:
                return None
            now = time.time()
            try:
                with self.db.transaction() as tx:
                    won = tx.change(
                        f"UPDATE {self.trials_table} SET state = :running, owner = :owner, "
                        "started = :now, updated = :now WHERE number = :n AND state = :q",
                        running=RUNNING,
                        owner=self.owner,
                        now=now,
                        n=rows[0][0],
                        q=QUEUED,
                    )
            except Conflict:
                continue
            if won:
                return self.trial(rows[0][0])

    def update(self, number: int, **fields: Any) -> None:
        unknown = set(fields) - set(COLUMNS)
        if unknown:
            raise ValueError(f"not trial columns: {sorted(unknown)}")
        encoded = {
            k: json.dumps(v) if k in ("metrics", "static", "diagnostics") else v
            for k, v in fields.items()
        }
        encoded["updated"] = time.time()
        columns = ", ".join(f"{k} = :{k}" for k in encoded)
        with self.db.transaction() as tx:
            tx.change(
                f"UPDATE {self.trials_table} SET {columns} WHERE number = :number",
                number=number,
                **encoded,
            )

    def trial(self, number: int) -> Trial:
        (row,) = self.db.read(
            f"SELECT {', '.join(COLUMNS)} FROM {self.trials_table} WHERE number = :n", n=number
        )
        return _trial(row)

    def by_point(self, point_key: str) -> Trial | None:
        rows = self.db.read(
            f"SELECT {', '.join(COLUMNS)} FROM {self.trials_table} WHERE point = :p", p=point_key
        )
        return _trial(rows[0]) if rows else None

    def trials(self) -> list[Trial]:
        rows = self.db.read(f"SELECT {', '.join(COLUMNS)} FROM {self.trials_table} ORDER BY number")
        return [_trial(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.read(f"SELECT state, COUNT(*) FROM {self.trials_table} GROUP BY state")
        return {state: int(n) for state, n in rows}


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
