"""Reads of the events journal (the live view's stream) and the daemon's run limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from orchestrator.domain.journal import JournalEvent
from orchestrator.domain.run import Run
from orchestrator.store.base import StoreBase
from orchestrator.store.domain_rows import run_of
from orchestrator.store.tables import AgentRunRow, EventRow

#: Kind of the event a daemon journals when it starts: its --until and --budget.
RUN_LIMITS_EVENT = "run_limits"


def event_of(row: EventRow) -> JournalEvent:
    return JournalEvent(
        id=row.id or 0,
        at=row.at,
        kind=row.kind,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        from_status=row.from_status,
        to_status=row.to_status,
        run_id=row.run_id,
        data=dict(row.data),
    )


class EventQueries(StoreBase):
    def events_after(self, after_id: int, limit: int = 200) -> list[JournalEvent]:
        """Events newer than ``after_id``, oldest first (at most ``limit``)."""
        with self.reading() as session:
            rows = session.exec(
                select(EventRow)
                .where(col(EventRow.id) > after_id)
                .order_by(col(EventRow.id))
                .limit(limit)
            )
            return [event_of(r) for r in rows]

    def recent_events(self, limit: int = 50) -> list[JournalEvent]:
        """The newest ``limit`` events, oldest first."""
        with self.reading() as session:
            rows = list(
                session.exec(select(EventRow).order_by(col(EventRow.id).desc()).limit(limit))
            )
        return [event_of(r) for r in reversed(rows)]

    def note_run_limits(
        self, holder: str, until: datetime | None, budget_usd: float | None
    ) -> None:
        """Journal a daemon's limits, so a dashboard in another process can show them."""
        with self.writing() as session:
            self.journal(
                session,
                RUN_LIMITS_EVENT,
                "daemon",
                holder,
                until=until.isoformat() if until else None,
                budget_usd=budget_usd,
            )

    def run_limits(self, holder: str) -> dict[str, Any]:
        """The limits and start time of the daemon ``holder`` ({} if it noted none)."""
        with self.reading() as session:
            row = session.exec(
                select(EventRow)
                .where(EventRow.kind == RUN_LIMITS_EVENT, EventRow.subject_id == holder)
                .order_by(col(EventRow.id).desc())
            ).first()
        if row is None:
            return {}
        return {**row.data, "started_at": row.at.isoformat()}

    def runs_of_wo(self, wo_id: str) -> list[Run]:
        """Every run of a WO, oldest first."""
        with self.reading() as session:
            return [
                run_of(r)
                for r in session.exec(
                    select(AgentRunRow)
                    .where(AgentRunRow.wo_id == wo_id)
                    .order_by(col(AgentRunRow.started_at))
                )
            ]

    def parked_runs(self, limit: int = 20) -> list[Run]:
        """The newest runs a rate limit parked (interrupted, their WO back in line)."""
        with self.reading() as session:
            return [
                run_of(r)
                for r in session.exec(
                    select(AgentRunRow)
                    .where(
                        AgentRunRow.status == "interrupted",
                        col(AgentRunRow.error).startswith("rate limited"),
                    )
                    .order_by(col(AgentRunRow.started_at).desc())
                    .limit(limit)
                )
            ]
