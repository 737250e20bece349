"""The engines: SQLite (WAL, foreign keys, busy timeout, BEGIN IMMEDIATE writes) or PostgreSQL.

Every write goes through :func:`write_session`. On SQLite it opens the transaction with
``BEGIN IMMEDIATE`` so two processes never both hold a read snapshot and then race to upgrade
it to a write lock (the cause of "database is locked" under concurrent writers); that lock
is database-wide, so every write transaction is serialized. PostgreSQL runs READ COMMITTED
and serializes nothing by itself: the queries that read, decide and write (claims, new WO
ids, the lease) take explicit row or advisory locks there (see ``store.locks``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlmodel import Session, create_engine

from orchestrator.domain.redaction import Redactor, active_redactor
from orchestrator.store.db_errors import translating

#: Seconds a connection waits for another writer before SQLite gives up.
BUSY_TIMEOUT_S = 60.0

_BEGIN_MODE_OPTION = "orch_begin_mode"


#: Seconds to wait for a PostgreSQL server before a command gives up.
PG_CONNECT_TIMEOUT_S = 10


def is_postgres_url(url: str) -> bool:
    return url.startswith("postgresql")


def make_engine(target: Path | str) -> Engine:
    """An engine for the state DB: a SQLite file's path, or a ``store.url``."""
    url = target if isinstance(target, str) else f"sqlite:///{target}"
    if is_postgres_url(url):
        return _postgres_engine(url)
    return _sqlite_engine(url)


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        isolation_level="READ COMMITTED",
        # A server restarted under a long-running daemon leaves dead pooled connections.
        pool_pre_ping=True,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "orch"},
    )
    install_redaction(engine)
    return engine


def _sqlite_engine(url: str) -> Engine:
    """The SQLite engine with our pragmas on every connection."""
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: we issue BEGIN ourselves (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed state change survives power loss, at the cost of one fsync.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    install_redaction(engine)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_MODE_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def install_redaction(engine: Engine) -> None:
    """Redact secrets from every string bound into a statement on ``engine``.

    One mechanism for every table (transcripts, events, WO notes, run errors): nothing
    secret reaches the database, whichever query wrote it. JSON columns are bound as
    their serialized text, and the redaction marker needs no escaping in JSON.
    """

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _redact(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, executemany: bool
    ) -> tuple[str, Any]:
        redactor = active_redactor()
        if executemany and isinstance(parameters, list):
            return statement, [_redact_params(redactor, p) for p in parameters]
        return statement, _redact_params(redactor, parameters)


def _redact_params(redactor: Redactor, params: Any) -> Any:
    if isinstance(params, dict):
        return {k: redactor.redact(v) if isinstance(v, str) else v for k, v in params.items()}
    if isinstance(params, list | tuple):
        return type(params)(redactor.redact(v) if isinstance(v, str) else v for v in params)
    return params


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads: a deferred transaction that sees one consistent snapshot.

    Driver errors leave it as ``StoreError``s (``db_errors``)."""
    with translating(), Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection whose transaction starts with BEGIN IMMEDIATE; commits when the
    block ends. For the hot writes that need no ORM unit of work (a transcript's lines,
    mirrored frame by frame: the ORM's flush cost several times the SQL).

    Driver errors leave it as ``StoreError``s (``db_errors``)."""
    with translating(), engine.connect() as conn:
        conn.execution_options(**{_BEGIN_MODE_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction starts with BEGIN IMMEDIATE; commits when the block ends.

    Driver errors leave it as ``StoreError``s (``db_errors``)."""
    with translating(), engine.connect() as conn:
        conn.execution_options(**{_BEGIN_MODE_OPTION: "IMMEDIATE"})
        with Session(bind=conn, expire_on_commit=False) as session:
            yield session
            session.commit()
