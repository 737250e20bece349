"""Claiming work and settling runs: the exactly-once part of dispatch, through the DB.

A WO is claimed by moving it ``ready -> running`` and inserting its run row in one
transaction (BEGIN IMMEDIATE on SQLite; on PostgreSQL the track's and the WO's rows locked
first, see ``store.locks``) that first checks the invariants: no other live run of the WO and
no other live worker on the track. Settling a run (done, retry, failed, interrupted) is one
transaction as well, so the WO's status and its run's status never disagree after a crash.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator.domain.errors import OrchestratorError
from orchestrator.domain.lifecycle import RunStatus, WOStatus
from orchestrator.domain.roles import Role
from orchestrator.domain.run import Run
from orchestrator.store.domain_rows import run_of
from orchestrator.store.locks import lock_claim, locked_row
from orchestrator.store.retries import RETRY_EVENT
from orchestrator.store.tables import AgentRunRow, EventRow, WorkOrderRow, utcnow
from orchestrator.store.work_orders import WorkOrderQueries

#: A parked run (waiting out a rate limit) still owns its WO.
LIVE_RUN_STATUSES = (RunStatus.RUNNING.value, RunStatus.PARKED.value)


class ClaimConflictError(OrchestratorError):
    """The WO or the track already has a live run."""


def new_run_id() -> str:
    return "run-" + uuid.uuid4().hex[:12]


class ClaimQueries(WorkOrderQueries):
    def start_run(
        self,
        role: Role,
        daemon_id: str,
        *,
        project_id: str | None = None,
        track_id: str | None = None,
        resumed_from: str | None = None,
    ) -> Run:
        """A run for a decision agent (no WO claimed)."""
        with self.writing() as session:
            run = AgentRunRow(
                id=new_run_id(),
                role=role.value,
                project_id=project_id,
                track_id=track_id,
                daemon_id=daemon_id,
                resumed_from=resumed_from,
            )
            session.add(run)
            self.journal(
                session,
                "run_started",
                "run",
                run.id,
                to_status=run.status,
                run_id=run.id,
                role=role.value,
                track=track_id,
            )
            return run_of(run)

    def claim_work_order(
        self, wo_id: str, track_id: str, daemon_id: str, resumed_from: str | None = None
    ) -> Run:
        """Move the WO to running and create its worker run, or raise ClaimConflictError."""
        with self.writing() as session:
            if not lock_claim(session, wo_id, track_id):
                raise ClaimConflictError(f"{wo_id} is being claimed or settled elsewhere")
            live = session.exec(
                select(AgentRunRow).where(
                    col(AgentRunRow.status).in_(LIVE_RUN_STATUSES),
                    (AgentRunRow.wo_id == wo_id)
                    | ((AgentRunRow.track_id == track_id) & (AgentRunRow.role == "worker")),
                )
            ).first()
            if live is not None:
                raise ClaimConflictError(f"{wo_id} or track {track_id} has live run {live.id}")
            wo = self.get_wo_row(session, wo_id)
            if wo.status == WOStatus.BACKLOG.value:
                self.set_wo_status(
                    wo_id, WOStatus.READY, reason="dependencies done", session=session
                )
            run = AgentRunRow(
                id=new_run_id(),
                role=Role.WORKER.value,
                project_id=wo.project_id,
                track_id=track_id,
                wo_id=wo_id,
                attempt=wo.attempts + 1,
                daemon_id=daemon_id,
                resumed_from=resumed_from,
            )
            session.add(run)
            session.flush()
            self.set_wo_status(
                wo_id,
                WOStatus.RUNNING,
                reason=f"claimed for {track_id}",
                run_id=run.id,
                session=session,
                attempts=wo.attempts + 1,
            )
            self.journal(
                session,
                "run_started",
                "run",
                run.id,
                to_status=run.status,
                run_id=run.id,
                role="worker",
                track=track_id,
                wo=wo_id,
            )
            if resumed_from is not None:
                self._set_run(session, resumed_from, RunStatus.RESUMED, note=f"resumed by {run.id}")
            return run_of(run)

    def record_run(self, run_id: str, **fields: Any) -> None:
        """Progress of a live run (session id, pid, cost, tokens): committed as it streams."""
        with self.writing() as session:
            run = session.get(AgentRunRow, run_id)
            if run is None:
                return
            for name, value in fields.items():
                setattr(run, name, value)
            session.add(run)
            if "session_id" in fields:
                self.journal(
                    session,
                    "run_session",
                    "run",
                    run_id,
                    run_id=run_id,
                    session_id=fields["session_id"],
                )

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        summary: str | None = None,
        wo_status: WOStatus | None = None,
        wo_fields: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """Settle a run and (for a worker) its WO in one transaction."""
        if session is None:
            with self.writing() as own:
                self.finish_run(
                    run_id,
                    status,
                    error=error,
                    summary=summary,
                    wo_status=wo_status,
                    wo_fields=wo_fields,
                    session=own,
                )
                return
        run = self._set_run(session, run_id, status, error=error, summary=summary)
        if wo_status is not None and run.wo_id is not None:
            fields = dict(wo_fields or {})
            if error is not None and "last_error" not in fields:
                fields["last_error"] = error[-4000:]
            self.set_wo_status(
                run.wo_id, wo_status, reason=status.value, run_id=run_id, session=session, **fields
            )

    def _set_run(
        self,
        session: Session,
        run_id: str,
        status: RunStatus,
        error: str | None = None,
        summary: str | None = None,
        note: str | None = None,
    ) -> AgentRunRow:
        run = locked_row(session, AgentRunRow, run_id)
        if run is None:
            raise OrchestratorError(f"unknown run {run_id}")
        before = run.status
        run.status = status.value
        if status is not RunStatus.RUNNING:
            run.ended_at = run.ended_at or utcnow()
        if error is not None:
            run.error = error[-4000:]
        if summary is not None:
            run.summary = summary
        session.add(run)
        self.journal(
            session,
            "run_status",
            "run",
            run_id,
            from_status=before,
            to_status=status.value,
            run_id=run_id,
            note=note,
        )
        return run

    def live_runs(self, session: Session | None = None) -> list[Run]:
        if session is None:
            with self.reading() as own:
                return self.live_runs(own)
        query = select(AgentRunRow).where(col(AgentRunRow.status).in_(LIVE_RUN_STATUSES))
        return [run_of(r) for r in session.exec(query)]

    def release_orphaned_claims(self) -> list[str]:
        """WOs marked running with no live run (cannot happen through our transactions, but a
        hand-edited or restored DB may hold them) go back to ready."""
        released = []
        with self.writing() as session:
            live = {r.wo_id for r in self.live_runs(session) if r.wo_id}
            rows = session.exec(
                select(WorkOrderRow).where(WorkOrderRow.status == WOStatus.RUNNING.value)
            )
            for row in rows:
                if row.id not in live:
                    self.set_wo_status(
                        row.id, WOStatus.READY, reason="claim without a live run", session=session
                    )
                    released.append(row.id)
        return released

    def session_runs(self, session_id: str) -> list[str]:
        """The runs of agent session ``session_id``, newest first (resumes keep the id)."""
        with self.reading() as session:
            return list(
                session.exec(
                    select(AgentRunRow.id)
                    .where(AgentRunRow.session_id == session_id)
                    .order_by(col(AgentRunRow.started_at).desc())
                )
            )

    def interrupted_wo_of_track(self, track_id: str) -> str | None:
        """The WO of the track's newest worker run if that run was interrupted."""
        with self.reading() as session:
            run = session.exec(
                select(AgentRunRow)
                .where(AgentRunRow.track_id == track_id, AgentRunRow.role == Role.WORKER.value)
                .order_by(col(AgentRunRow.started_at).desc())
            ).first()
        if run is None or run.status != RunStatus.INTERRUPTED.value:
            return None
        return run.wo_id

    def resumable_run(self, wo_id: str) -> Run | None:
        """The newest interrupted run of a WO that has a session to resume."""
        with self.reading() as session:
            row = session.exec(
                select(AgentRunRow)
                .where(
                    AgentRunRow.wo_id == wo_id,
                    AgentRunRow.status == RunStatus.INTERRUPTED.value,
                    col(AgentRunRow.session_id).is_not(None),
                )
                .order_by(col(AgentRunRow.started_at).desc())
            ).first()
        return run_of(row) if row is not None else None

    def wo_cost(self, wo_id: str) -> float:
        """What the worker runs of a WO have cost since it was last retried (or ever): its
        per-WO cap counts this, so `orch wo retry` gives a fresh cost budget too."""
        with self.reading() as session:
            retried = session.exec(
                select(func.max(EventRow.at)).where(
                    EventRow.kind == RETRY_EVENT, EventRow.subject_id == wo_id
                )
            ).one()
            query = select(AgentRunRow.cost_usd).where(
                AgentRunRow.wo_id == wo_id, AgentRunRow.role == Role.WORKER.value
            )
            if retried is not None:
                query = query.where(AgentRunRow.started_at >= retried)
            return float(sum(session.exec(query)))

    def cost_since(self, since: Any) -> float:
        with self.reading() as session:
            runs = session.exec(select(AgentRunRow.cost_usd).where(AgentRunRow.started_at >= since))
            return float(sum(runs))
