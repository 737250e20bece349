"""What every query module shares: the engine, sessions, and the events journal."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine
from sqlmodel import Session

from orchestrator.store.db import read_session, write_session
from orchestrator.store.tables import EventRow


def sqlite_of(session: Session) -> sqlite3.Connection:
    """The session's own sqlite3 connection, for the statements written for SQLite alone
    (``read_queries``, planning): they skip SQLAlchemy's compilation."""
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


class DriverSQL:
    """Statements in the driver's own SQL and parameter style, through SQLAlchemy (so its
    errors are wrapped and the redaction hook sees the parameters), with sqlite3's
    ``execute`` / ``cursor`` shape that ``read_queries`` and planning are written against."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Any = ()) -> CursorResult[Any]:
        return self._connection.exec_driver_sql(sql, parameters)

    def cursor(self) -> DriverSQL:
        return self

    def close(self) -> None:
        """Nothing to close: results are consumed as they are read."""


def driver_of(session: Session) -> Any:
    """The connection of the session's transaction for the statements written per dialect
    (``read_queries``, planning): SQLite's own sqlite3 connection (they skip SQLAlchemy's
    compilation), or PostgreSQL's through :class:`DriverSQL`."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_of(session)
    return DriverSQL(session.connection())


class StoreBase:
    """Holds the engine; query mixins build on it."""

    #: (this home's host id, its clones directory) once ``place_here`` was called; None:
    #: an unplaced store (tests, tools), which serves the one host without an id.
    here: tuple[str, Path] | None = None

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: PostgreSQL serializes nothing by itself (see ``store.db``); SQLite serializes writes.
        self.on_postgres = engine.dialect.name == "postgresql"

    @property
    def host_key(self) -> str | None:
        """The host this store serves (its daemon lease is that host's), None if unplaced."""
        return None if self.here is None else self.here[0]

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with read_session(self.engine) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with write_session(self.engine) as session:
            yield session

    @staticmethod
    def journal(
        session: Session,
        kind: str,
        subject_type: str,
        subject_id: str,
        *,
        from_status: str | None = None,
        to_status: str | None = None,
        run_id: str | None = None,
        **data: Any,
    ) -> None:
        """Append one event in the caller's transaction, so it commits with the change."""
        session.add(
            EventRow(
                kind=kind,
                subject_type=subject_type,
                subject_id=subject_id,
                from_status=from_status,
                to_status=to_status,
                run_id=run_id,
                data=data,
            )
        )
