"""A sweep's database: the stdlib SQLite file and SQLAlchemy URLs (PostgreSQL, MySQL).

Each backend is driven by real processes racing for the same points. SQLAlchemy runs here
over SQLite (`sqlite+pysqlite:///`), and over a real PostgreSQL and a real MariaDB: throwaway
servers started for this module (tests/db_servers.py; `make test` installs the binaries
when they are missing and it runs as root). CAEGEN_TEST_POSTGRES_URL (e.g.
postgresql+psycopg2://user@127.0.0.1:5432/db) or CAEGEN_TEST_MYSQL_URL (e.g.
mysql+pymysql://user@127.0.0.1:3306/db) names a server of your own instead. A server that
cannot be had is skipped, and the skip says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from caegen.core.diagnostics import CaegenError
from caegen.sweep.db import display_url, open_database
from caegen.sweep.store import FINISHED, QUEUED, Store
from tests import db_servers
from tests.conftest import ROOT, run_caegen
from tests.test_sweep import BLOCKS

pytest.importorskip("sqlalchemy")

SERVERS = {
    "postgresql": ("CAEGEN_TEST_POSTGRES_URL", db_servers.postgres),
    "mysql": ("CAEGEN_TEST_MYSQL_URL", db_servers.mariadb),
}


@pytest.fixture(scope="module")
def servers() -> Iterator[Callable[[str], str]]:
    """The URL of a backend's server, started on first use and stopped after the module;
    pytest.skip with the reason where it cannot be had."""
    started: dict[str, str | db_servers.Unavailable] = {}
    with ExitStack() as stack:

        def url_of(backend: str) -> str:
            variable, start = SERVERS[backend]
            if os.environ.get(variable):
                return os.environ[variable]
            if backend not in started:
                try:
                    started[backend] = stack.enter_context(start())
                except db_servers.Unavailable as exc:
                    started[backend] = exc
            found = started[backend]
            if isinstance(found, db_servers.Unavailable):
                pytest.skip(f"no {backend} server: {found} (or set {variable})")
            return found

        yield url_of


def database_url(backend: str, folder: Path, servers: Callable[[str], str]) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'study.db'}"
    if backend == "sqlalchemy":
        return f"sqlite+pysqlite:///{folder / 'study.db'}"
    return servers(backend)


@pytest.fixture(params=["sqlite", "sqlalchemy", *SERVERS])
def url(request, tmp_path, servers) -> str:
    return database_url(request.param, tmp_path, servers)


def store(url: str, prefix: str) -> Store:
    return Store(open_database(url, Path("unused.db")), prefix=prefix)


def point(i: int) -> str:
    return json.dumps({"encoder[0].filters": i})


def test_points_are_recorded_once_and_claimed_once(url):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    s = store(url, prefix)
    assert [s.add(point(i), QUEUED) for i in range(3)] == [0, 1, 2]
    assert s.add(point(1), QUEUED) is None  # known already
    s.set_meta("space", {"a": 1})
    s.set_meta("space", {"a": 2})
    assert s.get_meta("space") == {"a": 2} and s.get_meta("missing") is None
    first = s.claim()
    assert first is not None and first.number == 0 and first.state == "running"
    s.update(first.number, state=FINISHED, metrics={"psnr": 20.0})
    assert s.trial(0).metrics == {"psnr": 20.0}
    assert s.counts() == {"finished": 1, "queued": 2}
    with pytest.raises(ValueError):
        s.update(1, colour="red")
    other = store(url, f"{prefix}x")  # another sweep in the same database sees none of it
    assert other.trials() == []
    s.close()
    other.close()


RACER = """
import json, sys
from pathlib import Path
from caegen.sweep.db import open_database
from caegen.sweep.store import Store
s = Store(open_database(sys.argv[1], Path("unused.db")), prefix=sys.argv[2])
added = [s.add(json.dumps({"i": i}), "queued") for i in range(40)]
claimed = []
while (t := s.claim()) is not None:
    claimed.append(t.number)
    s.update(t.number, state="finished")
print(json.dumps({"added": [a for a in added if a is not None], "claimed": claimed}))
"""


def test_racing_processes_lose_and_duplicate_nothing(url):
    prefix = f"r{uuid.uuid4().hex[:8]}"
    store(url, prefix).close()  # the tables exist before the race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, prefix], stdout=subprocess.PIPE, cwd=ROOT, text=True
        )
        for _ in range(3)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    added = sorted(n for r in results for n in r["added"])
    claimed = sorted(n for r in results for n in r["claimed"])
    assert added == list(range(40)) and claimed == list(range(40))
    s = store(url, prefix)
    assert len(s.trials()) == 40 and s.counts() == {"finished": 40}
    s.close()


COUNTER = """
import json, sys
from pathlib import Path
from caegen.sweep.db import open_database
from caegen.sweep.store import Store
s = Store(open_database(sys.argv[1], Path("unused.db")), prefix=sys.argv[2])
print(json.dumps([s.bump("proposals") for _ in range(25)]))
"""


def test_racing_processes_count_every_proposal_once(url):
    """--max-trials counts proposals in the database: each increment seen exactly once."""
    prefix = f"c{uuid.uuid4().hex[:8]}"
    store(url, prefix).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTER, url, prefix],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        for _ in range(3)
    ]
    counted = sorted(n for p in procs for n in json.loads(p.communicate(timeout=120)[0]))
    assert counted == list(range(1, 76))
    s = store(url, prefix)
    assert s.get_meta("proposals") == 75
    s.close()


def test_a_password_is_never_shown_or_recorded():
    assert (
        display_url("postgresql://me:s3cret@db:5432/sweeps") == "postgresql://me:***@db:5432/sweeps"
    )
    assert display_url("postgresql://me@db/sweeps") == "postgresql://me@db/sweeps"
    assert display_url("sqlite:///x.db") == "sqlite:///x.db"
    assert (
        display_url("postgresql://me@db/sweeps?sslmode=require&password=s3cret&sslpassword=k")
        == "postgresql://me@db/sweeps?sslmode=require&password=***&sslpassword=***"
    )


@pytest.mark.parametrize(
    ("storage", "code", "words"),
    [
        ("mysql+nosuchdriver://me:s3cret@db/sweeps", "E066", "needs a driver"),
        ("sqlite+pysqlite:////no/such/folder/study.db", "E067", "cannot reach"),
        ("not a url", "E067", "not a database URL"),
    ],
)
def test_a_storage_that_cannot_be_used_is_a_clear_error(storage, code, words):
    with pytest.raises(CaegenError) as info:
        open_database(storage, Path("unused.db"))
    (d,) = info.value.diagnostics
    assert d.code == code and words in d.message and "s3cret" not in d.message


# --- through the command line ----------------------------------------------------------------


def sweep(tmp_path: Path, *extra: str, env: dict[str, str] | None = None):
    spec = tmp_path / "blocks.yaml"
    spec.write_text(BLOCKS)
    args = ["sweep", str(spec), "--objective", "params", "--set", "encoder[0].filters=2,4,8"]
    args += ["--set", "encoder[0:2]*+decoder[0:2]*=1,2,3"]
    return run_caegen(*args, *extra, cwd=tmp_path, timeout=300, env=env)


@pytest.mark.parametrize("backend", ["sqlalchemy", *SERVERS])
def test_a_sweep_on_a_database_url_resumes_there_and_only_there(tmp_path, backend, servers):
    storage = database_url(backend, tmp_path, servers)
    first = sweep(tmp_path, "--max-trials", "4", env={"CAEGEN_SWEEP_STORAGE": storage})
    assert first.returncode == 0, first.stderr
    (folder,) = (tmp_path / "sweeps" / "blocks").iterdir()
    assert not (folder / "study.db").exists()  # the trials are in the shared database
    recorded = json.loads((folder / "sweep.json").read_text())
    assert recorded["config"]["storage"] == display_url(storage)  # no password
    again = sweep(tmp_path, "--storage", storage)  # the rest of the grid, in the same sweep
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "sweeps" / "blocks").iterdir())) == 1
    rows = json.loads((folder / "leaderboard.json").read_text())
    assert len(rows) == 9 and len({json.dumps(r["point"], sort_keys=True) for r in rows}) == 9
    elsewhere = sweep(tmp_path)  # the same sweep without its database: refused, not restarted
    assert elsewhere.returncode == 1 and "E067" in elsewhere.stderr
    assert "Traceback" not in elsewhere.stderr


def test_a_bad_storage_stops_before_anything_is_created(tmp_path):
    result = sweep(tmp_path, "--storage", "postgresql+nosuchdriver://me:s3cret@db/sweeps")
    assert result.returncode == 1 and "E066" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "sweeps").exists()


def test_a_password_in_the_query_is_hidden_from_output_and_sweep_json(tmp_path, servers):
    storage = servers("postgresql")
    if "?" in storage or "@" not in storage:
        pytest.skip("the server's URL has its own parameters")
    # the throwaway server trusts local connections: the password is sent and ignored
    secret = f"{storage}?password=s3cret-in-the-query"
    result = sweep(tmp_path, "--storage", secret)
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "sweeps" / "blocks").iterdir()
    recorded = (folder / "sweep.json").read_text()
    assert "s3cret" not in result.stdout + result.stderr + recorded
    assert "password=***" in recorded
