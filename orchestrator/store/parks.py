"""The parks journal: rows of the events table, so no schema change is needed.

``daemon_started`` marks the start of each daemon; ``parked`` events after the latest one
are that run's parks (`orch status` shows them, the report lists them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from orchestrator.domain.parking import Park, ParkScope
from orchestrator.store.base import StoreBase
from orchestrator.store.tables import EventRow

DAEMON_STARTED = "daemon_started"
PARKED = "parked"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _park(row: EventRow) -> Park:
    data: dict[str, Any] = row.data
    until = data.get("until")
    return Park(
        scope=ParkScope(data.get("scope", ParkScope.RUN.value)),
        subject=row.subject_id,
        reason=str(data.get("reason", "")),
        at=_aware(row.at),
        until=datetime.fromisoformat(until) if isinstance(until, str) else None,
        delay_s=data.get("delay_s"),
        track_id=data.get("track_id"),
        wo_id=data.get("wo_id"),
    )


class ParkQueries(StoreBase):
    def note_daemon_started(self, daemon_id: str) -> None:
        with self.writing() as session:
            self.journal(session, DAEMON_STARTED, "daemon", daemon_id)

    def record_park(self, park: Park) -> None:
        with self.writing() as session:
            self.journal(
                session,
                PARKED,
                "run" if park.scope is ParkScope.SESSION else "daemon",
                park.subject,
                run_id=park.subject if park.scope is ParkScope.SESSION else None,
                scope=park.scope.value,
                reason=park.reason,
                until=park.until.isoformat() if park.until is not None else None,
                delay_s=park.delay_s,
                track_id=park.track_id,
                wo_id=park.wo_id,
            )

    def parks_since(self, since: datetime) -> list[Park]:
        with self.reading() as session:
            rows = session.exec(
                select(EventRow)
                .where(EventRow.kind == PARKED, EventRow.at >= since)
                .order_by(col(EventRow.id))
            )
            return [_park(row) for row in rows]

    def latest_parks(self) -> list[Park]:
        """The parks of the newest daemon run (the one running, or the last one)."""
        with self.reading() as session:
            start = session.exec(
                select(EventRow.id)
                .where(EventRow.kind == DAEMON_STARTED)
                .order_by(col(EventRow.id).desc())
            ).first()
            query = select(EventRow).where(EventRow.kind == PARKED)
            if start is not None:
                query = query.where(col(EventRow.id) > start)
            return [_park(row) for row in session.exec(query.order_by(col(EventRow.id)))]
