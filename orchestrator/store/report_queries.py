"""What the run report and the morning-after facts read: runs, status moves, WOs, tracks.

``daemon/report.py`` and ``daemon/report_facts.py`` compose these; they hold no query.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlmodel import col, select

from orchestrator.domain.journal import JournalEvent
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.run import Run, WorkOrderOutcome
from orchestrator.domain.track import Track
from orchestrator.store.base import StoreBase
from orchestrator.store.domain_rows import run_of, track_of
from orchestrator.store.events import event_of
from orchestrator.store.tables import AgentRunRow, EventRow, TrackRow, WorkOrderRow


class ReportQueries(StoreBase):
    def runs_since(self, since: datetime, *, of_work_orders: bool = False) -> list[Run]:
        """Runs started at or after ``since``, oldest first (only WO runs if asked)."""
        query = select(AgentRunRow).where(AgentRunRow.started_at >= since)
        if of_work_orders:
            query = query.where(col(AgentRunRow.wo_id).is_not(None))
        with self.reading() as session:
            rows = session.exec(query.order_by(col(AgentRunRow.started_at), col(AgentRunRow.id)))
            return [run_of(row) for row in rows]

    def status_moves_since(
        self, since: datetime, kind: str, to_status: str | None = None
    ) -> list[JournalEvent]:
        """Journal entries of ``kind`` (``wo_status``, ``track_status``, ...) at or after
        ``since``, oldest first; only moves to ``to_status`` if given."""
        query = select(EventRow).where(EventRow.at >= since, EventRow.kind == kind)
        if to_status is not None:
            query = query.where(EventRow.to_status == to_status)
        with self.reading() as session:
            return [event_of(row) for row in session.exec(query.order_by(col(EventRow.id)))]

    def wo_statuses(self) -> dict[str, WOStatus]:
        """Every WO's status, by id."""
        with self.reading() as session:
            pairs = session.exec(select(WorkOrderRow.id, WorkOrderRow.status)).all()
        return {wo_id: WOStatus(status) for wo_id, status in pairs}

    def wo_outcomes(self, wo_ids: Collection[str]) -> dict[str, WorkOrderOutcome]:
        """Title, status and last error of the named WOs (unknown ids are left out)."""
        with self.reading() as session:
            rows = session.exec(select(WorkOrderRow).where(col(WorkOrderRow.id).in_(wo_ids)))
            return {
                row.id: WorkOrderOutcome(
                    id=row.id,
                    title=row.title,
                    status=WOStatus(row.status),
                    last_error=row.last_error,
                )
                for row in rows
            }

    def tracks(self, project: str | None = None) -> list[Track]:
        """Every track (of ``project``, if given), by id."""
        query = select(TrackRow)
        if project is not None:
            query = query.where(TrackRow.project_id == project)
        with self.reading() as session:
            return [track_of(row) for row in session.exec(query.order_by(col(TrackRow.id)))]
