"""Throwaway database servers for the sweep's database tests: a PostgreSQL cluster and a
MariaDB (or MySQL) server, each in a temporary folder on a free port of 127.0.0.1, started
from the distribution's binaries and removed afterwards.

`make test` installs the binaries (Debian's postgresql and mariadb-server) when they are
missing and it runs as root; elsewhere a server that cannot be had is skipped, and the skip
says why. Servers run as the `postgres` / `mysql` users when the tests run as root (both
refuse to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_SECONDS = 60


class Unavailable(Exception):
    """Why a server cannot be had here (the skip reason)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str, patterns: tuple[str, ...] = ()) -> str | None:
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
    return shutil.which(name)


def _as_user(user: str) -> dict[str, object]:
    """Popen's arguments to run a server as `user` when we are root (else none)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise Unavailable(f"running as root, and there is no `{user}` user to run it") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "cwd": "/"}


def _folder(owner: dict[str, object], prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if owner:
        os.chown(folder, owner["user"], owner["group"])  # type: ignore[arg-type]
    return folder


def _run(cmd: list[str], what: str, owner: dict[str, object]) -> None:
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        **owner,  # type: ignore[arg-type]
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"{what} failed: {' / '.join(tail)}")


def _wait_until(ready, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise Unavailable(f"{what} exited at start: {' / '.join(tail)}")
        if ready():
            return
        time.sleep(0.1)
    raise Unavailable(f"{what} did not accept connections within {START_SECONDS} s")


def _stop(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster: its SQLAlchemy URL (psycopg2)."""
    try:
        import psycopg2
    except ImportError:
        raise Unavailable("psycopg2 is not installed (pip install '.[test]')") from None
    initdb = _binary("initdb", ("/usr/lib/postgresql/*/bin/initdb",))
    server = _binary("postgres", ("/usr/lib/postgresql/*/bin/postgres",))
    if initdb is None or server is None:
        raise Unavailable(
            "no PostgreSQL server binaries (initdb, postgres): apt-get install postgresql "
            "(make test does it when run as root)"
        )
    owner = _as_user("postgres")
    folder = _folder(owner, "caegen-pg-")
    data, log, port = folder / "data", folder / "server.log", _free_port()
    proc = None
    try:
        initialise = [initdb, "-D", str(data), "-U", "caegen", "-A", "trust", "--no-sync"]
        _run(initialise, "initdb", owner)
        with log.open("wb") as out:
            options = ["-p", str(port), "-h", "127.0.0.1", "-k", str(folder), "-F"]
            proc = subprocess.Popen(
                [server, "-D", str(data), *options, "-c", "max_connections=50"],
                stdout=out,
                stderr=subprocess.STDOUT,
                **owner,  # type: ignore[arg-type]
            )

        def ready() -> bool:
            try:
                psycopg2.connect(
                    host="127.0.0.1", port=port, user="caegen", dbname="postgres"
                ).close()
            except psycopg2.OperationalError:
                return False
            return True

        _wait_until(ready, proc, log, "postgres")
        yield f"postgresql+psycopg2://caegen@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT)  # a fast shutdown
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def mariadb() -> Iterator[str]:
    """A throwaway MariaDB (or MySQL) server: its SQLAlchemy URL (PyMySQL)."""
    try:
        import pymysql
    except ImportError:
        raise Unavailable("pymysql is not installed (pip install '.[test]')") from None
    install = _binary("mariadb-install-db") or _binary("mysql_install_db")
    server = _binary("mariadbd", ("/usr/sbin/mariadbd",)) or _binary(
        "mysqld", ("/usr/sbin/mysqld",)
    )
    if install is None or server is None:
        raise Unavailable(
            "no MariaDB/MySQL server binaries (mariadb-install-db, mariadbd): apt-get install "
            "mariadb-server (make test does it when run as root)"
        )
    owner = _as_user("mysql")
    folder = _folder(owner, "caegen-mariadb-")
    data, log, port = folder / "data", folder / "server.log", _free_port()
    sock = folder / "mysqld.sock"
    proc = None
    try:
        setup = ["--auth-root-authentication-method=normal", "--skip-test-db"]
        _run([install, "--no-defaults", f"--datadir={data}", *setup], "mariadb-install-db", owner)
        options = [
            f"--port={port}",
            f"--socket={sock}",
            "--bind-address=127.0.0.1",
            f"--pid-file={folder}/pid",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=0",
            "--skip-grant-tables",
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [server, "--no-defaults", f"--datadir={data}", *options],
                stdout=out,
                stderr=subprocess.STDOUT,
                **owner,  # type: ignore[arg-type]
            )

        def ready() -> bool:
            try:
                pymysql.connect(host="127.0.0.1", port=port, user="root").close()
            except pymysql.err.OperationalError:
                return False
            return True

        _wait_until(ready, proc, log, "mariadbd")
        connection = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE caegen")
        connection.close()
        yield f"mysql+pymysql://root@127.0.0.1:{port}/caegen"
    finally:
        if proc is not None:
            _stop(proc, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)
