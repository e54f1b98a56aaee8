"""Where a sweep's tables live: a SQLite file (stdlib), or any database SQLAlchemy reaches.

`open_database(url)` picks the backend: `sqlite:///PATH` (and the default file in the sweep
directory) uses the standard library; any other URL (`postgresql://...`,
`mysql+pymysql://...`) goes through SQLAlchemy, which comes with `caegen[sweep]`, plus the
database's driver. Both take the same SQL with `:name` parameters; a statement that loses
a race to another process (a duplicate key, a deadlock) raises `Conflict` out of its
transaction, which is rolled back, and the caller retries.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from caegen.core.diagnostics import CaegenError, Diagnostic

# DDL in the subset SQLite, PostgreSQL and MySQL share; MySQL cannot index TEXT, so its
# keys are VARCHAR (a point's JSON key of up to 768 characters).
_TRIALS = """CREATE TABLE IF NOT EXISTS {table} (
    number INTEGER PRIMARY KEY,
    point {key_text} NOT NULL UNIQUE,
    state VARCHAR(16) NOT NULL,
    diagnostics TEXT,
    static TEXT,
    metrics TEXT,
    run_dir TEXT,
    owner TEXT,
    external INTEGER,
    check_ms REAL,
    started DOUBLE PRECISION,
    updated DOUBLE PRECISION
)"""
_META = "CREATE TABLE IF NOT EXISTS {table} ({key} VARCHAR(255) PRIMARY KEY, value TEXT NOT NULL)"


class Conflict(Exception):
    """Another process changed the rows first; the transaction was rolled back."""


class Transaction:
    def __init__(self, execute: Any) -> None:
        self._execute = execute

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._execute(sql, params).fetchall()]

    def change(self, sql: str, **params: Any) -> int:
        """Run an UPDATE or INSERT; the number of rows it changed."""
        return int(self._execute(sql, params).rowcount)


class Database:
    url: str
    """The URL a sampler (Optuna) opens the same database with."""
    display_url: str
    """The URL with its password hidden, for messages and sweep.json."""

    dialect: str = "sqlite"

    def create(self, trials: str, meta: str) -> None:
        key_text = "VARCHAR(768)" if self.dialect == "mysql" else "TEXT"
        with self.transaction() as tx:
            tx.change(_TRIALS.format(table=trials, key_text=key_text))
            tx.change(_META.format(table=meta, key=self.quote("key")))

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.dialect == "mysql" else f'"{name}"'

    def read(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.transaction() as tx:
            return tx.rows(sql, **params)

    def transaction(self) -> Any:  # a context manager yielding a Transaction
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    """A SQLite file: one writer at a time across processes (BEGIN IMMEDIATE), WAL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.display_url = self.url
        try:
            self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise storage_error(f"cannot open the sweep database {path}: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self.db.execute)
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            raise Conflict from None
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def read(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        # a plain autocommit read: WAL readers never wait for the write lock, which a
        # transaction (BEGIN IMMEDIATE) would take, e.g. for each refresh of the live table
        return [tuple(r) for r in self.db.execute(sql, params).fetchall()]

    def close(self) -> None:
        self.db.close()


class SqlAlchemyDatabase(Database):
    """PostgreSQL, MySQL (or anything SQLAlchemy speaks), shared by several machines."""

    def __init__(self, url: str) -> None:
        try:
            import sqlalchemy
        except ImportError:
            raise CaegenError(
                [
                    Diagnostic(
                        "E066",
                        f"--storage {_hide_password(url)} needs SQLAlchemy, which is not installed",
                        hint="pip install 'caegen[sweep]' and the database's driver "
                        "(e.g. psycopg2-binary for PostgreSQL, pymysql for MySQL)",
                    )
                ]
            ) from None
        self.sa = sqlalchemy
        try:
            parsed = sqlalchemy.engine.make_url(url)
        except sqlalchemy.exc.ArgumentError:
            raise storage_error(
                f"--storage `{url}` is not a database URL",
                "e.g. postgresql://user@host/db, mysql+pymysql://user@host/db or sqlite:///PATH",
            ) from None
        self.url = url
        self.display_url = _hide_password(url)
        self.dialect = parsed.get_backend_name()
        try:
            self.engine = sqlalchemy.create_engine(parsed, pool_pre_ping=True)
            with self.engine.connect():
                pass
        except (ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:
            raise CaegenError(
                [
                    Diagnostic(
                        "E066",
                        f"--storage {self.display_url} needs a driver that is not installed "
                        f"({exc})",
                        hint="install the driver the URL names, e.g. psycopg2-binary for "
                        "postgresql://, pymysql for mysql+pymysql://",
                    )
                ]
            ) from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise storage_error(
                f"cannot reach the sweep database {self.display_url}: {reason}",
                "check the host, port, database name and credentials (the password may "
                "also come from CAEGEN_SWEEP_STORAGE, kept out of the shell history)",
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        sa = self.sa

        def execute(sql: str, params: dict[str, Any]) -> Any:
            return connection.execute(sa.text(sql), params)

        try:
            with self.engine.begin() as connection:
                yield Transaction(execute)
        except sa.exc.IntegrityError:
            raise Conflict from None
        except sa.exc.OperationalError as exc:
            if _lost_race(exc):
                raise Conflict from None
            raise

    def close(self) -> None:
        self.engine.dispose()


def _lost_race(exc: Any) -> bool:
    """A deadlock or serialization failure: the other transaction won; retrying is safe."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "pgcode", None) or (orig.args[0] if orig and orig.args else None)
    return code in ("40001", "40P01", 1213, 1205)


_SECRET_PARAMETER = re.compile(
    r"([?&][^=&#]*(?:pass|pwd|secret|token)[^=&#]*=)[^&#]*", re.IGNORECASE
)


def _hide_password(url: str) -> str:
    """The password of the user part and of query parameters (`?password=`) hidden."""
    url = _SECRET_PARAMETER.sub(r"\1***", url)
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in credentials else ''}@{tail}"


def _in_memory(url: str) -> bool:
    """An SQLite URL without a file: `sqlite://`, `sqlite:///:memory:`, `mode=memory`."""
    scheme, _, rest = url.partition("://")
    if not scheme.lower().startswith("sqlite"):
        return False
    path, _, query = (rest[1:] if rest.startswith("/") else rest).partition("?")
    return (
        path in ("", ":memory:")
        or path.startswith("file::memory:")
        or "mode=memory" in (query + path).lower()
    )


def storage_error(message: str, hint: str | None = None) -> CaegenError:
    return CaegenError([Diagnostic("E067", message, hint=hint)])


def open_database(url: str | None, default: Path) -> Database:
    """The default SQLite file, a `sqlite:///PATH` file, or a database SQLAlchemy reaches.
    A storage that would not outlive the process (in-memory SQLite) is E072."""
    if url is None:
        return SqliteDatabase(default)
    if _in_memory(url):
        raise CaegenError(
            [
                Diagnostic(
                    "E072",
                    f"--storage {display_url(url)} keeps the sweep in memory: every process "
                    "would get its own empty database, and nothing would be kept for a resume",
                    hint="give a file (sqlite:///PATH) or a database server's URL, or leave "
                    "--storage out to keep the trials in the sweep directory's study.db",
                )
            ]
        )
    if url.startswith("sqlite:///"):
        return SqliteDatabase(Path(url[len("sqlite:///") :]))
    return SqlAlchemyDatabase(url)


def display_url(url: str | None) -> str | None:
    """The URL as it may be shown and recorded: its password hidden."""
    return None if url is None else _hide_password(url)
