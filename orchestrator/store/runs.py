"""Queries on agent runs, checkpoints, the global directive, and the daemon lease."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from orchestrator.domain.dispatch import Directive
from orchestrator.domain.errors import NotFoundError
from orchestrator.domain.lifecycle import RunStatus
from orchestrator.domain.run import Run
from orchestrator.store.base import StoreBase
from orchestrator.store.domain_rows import directive_of, run_of
from orchestrator.store.tables import AgentRunRow, DirectiveRow


class RunQueries(StoreBase):
    def get_run(self, run_id: str) -> Run:
        with self.reading() as session:
            row = session.get(AgentRunRow, run_id)
        if row is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return run_of(row)

    def list_runs(self, status: str | None = None, track: str | None = None) -> list[Run]:
        with self.reading() as session:
            query = select(AgentRunRow)
            if status is not None:
                query = query.where(AgentRunRow.status == status)
            if track is not None:
                query = query.where(AgentRunRow.track_id == track)
            return [run_of(r) for r in session.exec(query.order_by(col(AgentRunRow.started_at)))]

    def active_runs(self) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "role": r.role,
                "track": r.track_id,
                "wo": r.wo_id,
                "session_id": r.session_id,
                "cost_usd": r.cost_usd,
                "started_at": r.started_at.isoformat(),
            }
            for r in self.list_runs(status=RunStatus.RUNNING.value)
        ]

    def latest_directive(self) -> Directive | None:
        with self.reading() as session:
            row = session.exec(select(DirectiveRow).order_by(col(DirectiveRow.id).desc())).first()
            return directive_of(row) if row is not None else None
