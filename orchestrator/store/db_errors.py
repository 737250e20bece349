"""Database errors become ``StoreError``s at the store boundary, in one place.

Every session the store opens (``db.read_session``, ``db.write_session``) and every bare
connection (schema checks, migrations) runs inside :func:`translating`, so a locked, missing
or damaged database reaches the CLI, the daemon and the dashboard as a ``StoreError`` with a
one-line message, whichever backend and driver raised it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError

from orchestrator.domain.errors import (
    StoreBusy,
    StoreConflict,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)

#: Lower-case fragments of driver messages, checked in order (SQLite has no error codes in
#: Python's sqlite3 before 3.11's ``sqlite_errorname``, and PostgreSQL's come as SQLSTATE).
_MESSAGE_KINDS: tuple[tuple[str, type[StoreError]], ...] = (
    ("database is locked", StoreBusy),
    ("database table is locked", StoreBusy),
    ("file is not a database", StoreCorrupt),
    ("malformed", StoreCorrupt),
    ("unable to open database", StoreUnavailable),
    ("disk i/o error", StoreUnavailable),
    ("readonly database", StoreUnavailable),
)

#: SQLSTATE classes and codes (PostgreSQL) that name a kind of failure.
_SQLSTATE_KINDS: tuple[tuple[str, type[StoreError]], ...] = (
    ("55P03", StoreBusy),  # lock_not_available
    ("40001", StoreBusy),  # serialization_failure
    ("40P01", StoreBusy),  # deadlock_detected
    ("57014", StoreBusy),  # query_canceled (statement or lock timeout)
    ("23", StoreConflict),  # integrity constraint violation
    ("08", StoreUnavailable),  # connection exception
    ("57P", StoreUnavailable),  # operator intervention (shutdown)
    ("XX001", StoreCorrupt),  # data_corrupted
    ("XX002", StoreCorrupt),  # index_corrupted
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlstate(driver_error: BaseException) -> str | None:
    for attribute in ("sqlstate", "pgcode"):
        code = getattr(driver_error, attribute, None)
        if isinstance(code, str) and code:
            return code
    return None


def classify(exc: DBAPIError | sqlite3.Error) -> StoreError:
    """The ``StoreError`` for a driver error (raised through SQLAlchemy or not)."""
    driver_error: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        driver_error = exc.orig
    reason = _first_line(driver_error)
    message = f"state database: {reason}"
    code = _sqlstate(driver_error)
    if code is not None:
        for prefix, kind in _SQLSTATE_KINDS:
            if code.startswith(prefix):
                return kind(message)
    lowered = reason.lower()
    for fragment, kind in _MESSAGE_KINDS:
        if fragment in lowered:
            return kind(message)
    if isinstance(exc, IntegrityError) or isinstance(driver_error, sqlite3.IntegrityError):
        return StoreConflict(message)
    return StoreError(message)


@contextmanager
def translating() -> Iterator[None]:
    """Run the block; a driver error leaving it is raised again as a ``StoreError``."""
    try:
        yield
    except (DBAPIError, sqlite3.Error) as exc:
        raise classify(exc) from exc
