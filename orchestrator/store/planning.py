"""Reads and writes of planning: what can run next, queues, and the global directive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.store.base import StoreBase
from orchestrator.store.tables import (
    AgentRunRow,
    DirectiveRow,
    TrackRow,
    WODependencyRow,
    WorkOrderRow,
    WOTrackRow,
)

#: WO statuses that may still be started (dependencies permitting).
STARTABLE = (WOStatus.BACKLOG.value, WOStatus.READY.value)
#: WO statuses that still need work: a track with none of these left is finished.
UNFINISHED = (
    WOStatus.BACKLOG.value,
    WOStatus.READY.value,
    WOStatus.RUNNING.value,
    WOStatus.BLOCKED.value,
    WOStatus.FAILED.value,
)


@dataclass(frozen=True)
class TrackWork:
    """One track's state for dispatch: its startable WOs (dependencies done), in order."""

    track: TrackRow
    startable: list[dict[str, Any]]
    unfinished: int
    total: int
    failed: int
    running: int
    cost_usd: float
    #: Unfinished WOs that wait on a dependency that is not done (id -> blockers).
    waiting: dict[str, list[str]]


class PlanningQueries(StoreBase):
    def track_work(
        self, statuses: tuple[str, ...] = (TrackStatus.ACTIVE.value,)
    ) -> list[TrackWork]:
        """Per track in ``statuses``: startable WOs (all dependencies done), counts and cost."""
        with self.reading() as session:
            tracks = list(session.exec(select(TrackRow).where(col(TrackRow.status).in_(statuses))))
            if not tracks:
                return []
            ids = [t.id for t in tracks]
            links = list(session.exec(select(WOTrackRow).where(col(WOTrackRow.track_id).in_(ids))))
            wo_ids = {link.wo_id for link in links}
            wos = {
                w.id: w
                for w in session.exec(select(WorkOrderRow).where(col(WorkOrderRow.id).in_(wo_ids)))
            }
            deps = list(
                session.exec(select(WODependencyRow).where(col(WODependencyRow.wo_id).in_(wo_ids)))
            )
            dep_ids = {d.depends_on_id for d in deps}
            dep_status = dict(
                session.exec(
                    select(WorkOrderRow.id, WorkOrderRow.status).where(
                        col(WorkOrderRow.id).in_(dep_ids)
                    )
                ).all()
            )
            costs: dict[str, float] = {}
            for track_id, cost in session.exec(
                select(AgentRunRow.track_id, AgentRunRow.cost_usd).where(
                    col(AgentRunRow.track_id).in_(ids)
                )
            ):
                costs[str(track_id)] = costs.get(str(track_id), 0.0) + cost
        blocked_by: dict[str, list[str]] = {}
        for dep in deps:
            if dep_status.get(dep.depends_on_id) != WOStatus.DONE.value:
                blocked_by.setdefault(dep.wo_id, []).append(dep.depends_on_id)
        per_track: dict[str, list[WorkOrderRow]] = {}
        for link in links:
            per_track.setdefault(link.track_id, []).append(wos[link.wo_id])
        result = []
        for track in tracks:
            members = sorted(per_track.get(track.id, []), key=lambda w: (w.priority, w.id))
            startable = [
                {
                    "id": w.id,
                    "title": w.title,
                    "priority": w.priority,
                    "tags": list(w.tags),
                    "depends_on": [d.depends_on_id for d in deps if d.wo_id == w.id],
                }
                for w in members
                if w.status in STARTABLE and w.id not in blocked_by
            ]
            result.append(
                TrackWork(
                    track=track,
                    startable=startable,
                    unfinished=sum(1 for w in members if w.status in UNFINISHED),
                    total=len(members),
                    failed=sum(1 for w in members if w.status == WOStatus.FAILED.value),
                    running=sum(1 for w in members if w.status == WOStatus.RUNNING.value),
                    cost_usd=costs.get(track.id, 0.0),
                    waiting={
                        w.id: blocked_by[w.id]
                        for w in members
                        if w.id in blocked_by and w.status in STARTABLE
                    },
                )
            )
        return result

    def set_queue(self, track_id: str, wo_ids: list[str], run_id: str | None = None) -> None:
        with self.writing() as session:
            track = session.get(TrackRow, track_id)
            if track is None:
                return
            track.wo_queue = list(wo_ids)
            session.add(track)
            self.journal(session, "queue_set", "track", track_id, run_id=run_id, wo_ids=wo_ids)

    def add_directive(
        self,
        weights: dict[str, float],
        reason: str,
        run_id: str | None = None,
        budgets: dict[str, float] | None = None,
    ) -> DirectiveRow:
        """Store the global agent's directive and apply its weights/budgets to the tracks."""
        with self.writing() as session:
            for track_id, weight in weights.items():
                track = session.get(TrackRow, track_id)
                if track is not None:
                    track.weight = weight
                    session.add(track)
            for track_id, usd in (budgets or {}).items():
                track = session.get(TrackRow, track_id)
                if track is not None:
                    track.budget_usd = usd
                    session.add(track)
            row = DirectiveRow(weights=weights, budgets=budgets or {}, reason=reason, run_id=run_id)
            session.add(row)
            self.journal(
                session,
                "directive",
                "daemon",
                "global",
                run_id=run_id,
                weights=weights,
                budgets=budgets or {},
                reason=reason,
            )
            return row

    def note_progress(self, track_id: str, run_id: str | None, report: dict[str, Any]) -> None:
        """A project agent's progress report: journaled; a blocked reason is kept on the track."""
        with self.writing() as session:
            track = session.get(TrackRow, track_id)
            if track is None:
                return
            if report.get("blocked_reason"):
                track.blocked_reason = str(report["blocked_reason"])[:2000]
                session.add(track)
            self.journal(
                session,
                "track_progress",
                "track",
                track_id,
                run_id=run_id,
                summary=str(report.get("summary", ""))[:2000],
                blocked_reason=report.get("blocked_reason"),
            )
