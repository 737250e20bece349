"""Driver errors become one-line ``StoreError``s of the right kind (``store.db_errors``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from orchestrator.domain.errors import (
    OrchestratorError,
    StoreBusy,
    StoreConflict,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    UserInputError,
)
from orchestrator.store.db_errors import classify, translating


class _PgError(Exception):
    """A driver error carrying a SQLSTATE, as psycopg's do."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _wrapped(orig: Exception) -> DBAPIError:
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("orig", "kind"),
    [
        (sqlite3.OperationalError("database is locked"), StoreBusy),
        (sqlite3.DatabaseError("file is not a database"), StoreCorrupt),
        (sqlite3.DatabaseError("database disk image is malformed"), StoreCorrupt),
        (sqlite3.OperationalError("unable to open database file"), StoreUnavailable),
        (sqlite3.IntegrityError("UNIQUE constraint failed: tracks.id"), StoreConflict),
        (_PgError("could not obtain lock on row", "55P03"), StoreBusy),
        (_PgError("could not serialize access", "40001"), StoreBusy),
        (_PgError('duplicate key value violates unique constraint "x"', "23505"), StoreConflict),
        (_PgError("connection refused", "08006"), StoreUnavailable),
        (sqlite3.OperationalError("no such table: x"), StoreError),
    ],
)
def test_classify(orig: Exception, kind: type[StoreError]) -> None:
    for raised in (orig, _wrapped(orig)):
        error = classify(raised)  # type: ignore[arg-type]
        assert type(error) is kind
        assert str(error) == f"state database: {str(orig).splitlines()[0]}"


def test_store_errors_are_not_user_input() -> None:
    assert issubclass(StoreError, OrchestratorError)
    assert not issubclass(StoreError, UserInputError)
    assert StoreError("x").exit_code == 1
    assert issubclass(StoreBusy, StoreUnavailable)


def test_translating_keeps_the_driver_error_as_cause(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(StoreError) as caught, translating():
        conn.execute("SELECT * FROM missing")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    conn.close()


def test_translating_leaves_other_errors_alone() -> None:
    with pytest.raises(KeyError), translating():
        raise KeyError("not a database error")
