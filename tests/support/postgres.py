"""PostgreSQL for the tests: a fresh database per test on the server at 127.0.0.1:5432.

The server is the machine's (trust auth for ``postgres`` on loopback, as on CI; see the
README). Each test gets ``CREATE DATABASE orch_t_<random>``, dropped afterwards. Without a
server the PostgreSQL tests skip with one line saying how to get one, unless
``ORCH_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

HOST = "127.0.0.1"
PORT = 5432
USER = "postgres"
#: Read at import: the autouse fixture removes every ORCH_* variable from each test's env.
REQUIRED = os.environ.get("ORCH_REQUIRE_POSTGRES") == "1"
HOW_TO_GET_ONE = (
    f"no PostgreSQL on {HOST}:{PORT} (user {USER}, trust auth): `apt-get install postgresql` "
    "and start it, see the README's PostgreSQL section"
)


def url_of(database: str) -> str:
    """The ``store.url`` of ``database`` on the test server."""
    return f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{database}"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(
            host=HOST, port=PORT, user=USER, dbname="postgres", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        if REQUIRED:
            pytest.fail(f"ORCH_REQUIRE_POSTGRES=1 but {HOW_TO_GET_ONE} ({exc})".splitlines()[0])
        pytest.skip(HOW_TO_GET_ONE)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database on the test server (its ``store.url``), dropped afterwards."""
    name = f"orch_t_{uuid.uuid4().hex[:16]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url_of(name)
    finally:
        with _admin() as admin:
            # FORCE: a daemon killed by the test may leave a connection behind.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The ``store.url`` of a fresh PostgreSQL database for this test."""
    with fresh_database() as url:
        yield url
