"""Locks for the read-decide-write transactions that SQLite serializes by itself.

On SQLite every write transaction holds the database-wide write lock from its first
statement (``BEGIN IMMEDIATE``), so "read, check, then write" is atomic for free. PostgreSQL
runs READ COMMITTED: two such transactions can both read the same state and both act on it.
Each of those transactions therefore locks what it decides on before it reads it:

* a row it reads and then writes back (``FOR UPDATE``: ``session.get(..., with_for_update=True)``
  renders nothing on SQLite, so the query modules use it unconditionally), among them every
  WO, track and run whose status changes (:func:`locked_row`);
* a claim: :func:`lock_claim`, the track's row (waiting) then the WO's (``SKIP LOCKED``);
* a choice made over many rows, such as the next free WO id or the daemon lease row that may
  not exist yet: :func:`serialize`, a transaction-scoped advisory lock.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from orchestrator.store.tables import TrackRow, WorkOrderRow

#: The advisory-lock namespace of the store ("orch"); ``Serial`` numbers what is locked.
ADVISORY_NAMESPACE = 0x6F726368


class Serial(IntEnum):
    """What :func:`serialize` locks (the second key of ``pg_advisory_xact_lock``)."""

    WO_IDS = 1
    LEASE = 2


def on_postgres(session: Session) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


def serialize(session: Session, what: Serial) -> None:
    """Hold ``what`` until the transaction ends (PostgreSQL; SQLite's write lock already
    serializes every writer)."""
    if on_postgres(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": ADVISORY_NAMESPACE, "key": int(what)},
        )


_Row = TypeVar("_Row", bound=SQLModel)


def locked_row(session: Session, model: type[_Row], key: Any) -> _Row | None:
    """The row ``key`` of ``model`` as it is now, locked until the transaction ends
    (``FOR UPDATE``; a plain read on SQLite): for a status change that checks the current
    status first, so two such changes of one row cannot both pass the check."""
    return session.get(model, key, with_for_update=True, populate_existing=True)


def lock_claim(session: Session, wo_id: str, track_id: str) -> bool:
    """Lock a claim's track, then its WO; False when another transaction holds the WO.

    The track's row is waited for: the claim then sees any worker another claim has just
    started on the track. The WO's row is skipped when locked (``SKIP LOCKED``): whoever
    holds it is claiming or settling it, so this claim is a conflict, not a wait. On SQLite
    both render as plain reads (the write lock has serialized the claim already).
    """
    session.exec(select(TrackRow.id).where(TrackRow.id == track_id).with_for_update())
    locked = session.exec(
        select(WorkOrderRow.id).where(WorkOrderRow.id == wo_id).with_for_update(skip_locked=True)
    ).first()
    if locked is not None:
        return True
    # Not returned: locked by another transaction, or no such WO (the caller says which).
    return session.get(WorkOrderRow, wo_id) is None
