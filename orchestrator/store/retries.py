"""Retrying work orders: failed (or blocked) WOs back in line with a fresh attempt budget.

A retry is journaled as a ``wo_retried`` event in the same transaction as the status change;
the daemon reads it back (``retry_pending``) to know that, before the WO starts again, its
track branch must take the base branch's new commits (the fix the user made overnight).
The WO keeps its ``last_error``: the worker's next prompt carries it as the previous failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.experiment import OPEN_EXPERIMENT_STATUSES
from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.store.tables import (
    EventRow,
    ExperimentRow,
    ExperimentWORow,
    WorkOrderRow,
    WOTrackRow,
)
from orchestrator.store.tracks import TrackQueries
from orchestrator.store.work_orders import WorkOrderQueries

#: WO statuses a retry takes back to ready.
RETRYABLE_WO_STATUSES = frozenset({WOStatus.FAILED, WOStatus.BLOCKED})
#: The journal event of a retry (``retry_pending`` and ``wo_cost`` look for it).
RETRY_EVENT = "wo_retried"


@dataclass(frozen=True)
class RetryResult:
    #: The WOs now ready again, in the order asked.
    retried: list[str]
    #: Tracks that were blocked (paused by the daemon) and are active again.
    resumed_tracks: list[str]
    #: Retried WOs that are in no active track (they wait until one is resumed or assigned).
    without_active_track: list[str]


class RetryQueries(WorkOrderQueries, TrackQueries):
    def retryable_work_orders(
        self,
        *,
        track: str | None = None,
        project: str | None = None,
        statuses: frozenset[WOStatus] = RETRYABLE_WO_STATUSES,
    ) -> list[str]:
        """Ids of the WOs a retry would take (of ``track`` or ``project`` when given)."""
        with self.reading() as session:
            query = select(WorkOrderRow.id).where(
                col(WorkOrderRow.status).in_([s.value for s in statuses])
            )
            if track is not None:
                self.get_track_row(session, track)
                query = query.join(WOTrackRow, col(WOTrackRow.wo_id) == col(WorkOrderRow.id)).where(
                    WOTrackRow.track_id == track
                )
            if project is not None:
                query = query.where(WorkOrderRow.project_id == project)
            ids = list(session.exec(query.order_by(col(WorkOrderRow.id))))
            held = self._held_by_experiments(session, ids)
        return [i for i in ids if i not in held]

    def retry_work_orders(self, wo_ids: Sequence[str], reason: str = "retried") -> RetryResult:
        """Put ``wo_ids`` back to ready with a fresh attempt budget, all or none.

        Refuses (ValidationError, nothing changed) a WO that is not failed or blocked, or that
        an open experiment holds (its variants carry it). Tracks of the WOs that the daemon
        blocked (paused with a reason) become active again.
        """
        wanted = list(dict.fromkeys(wo_ids))
        with self.writing() as session:
            rows = [self.get_wo_row(session, wo_id) for wo_id in wanted]
            for row in rows:
                if WOStatus(row.status) not in RETRYABLE_WO_STATUSES:
                    raise ValidationError(
                        f"{row.id} is {row.status}: only failed or blocked work orders can be "
                        "retried"
                    )
            held = self._held_by_experiments(session, wanted)
            if held:
                wo_id, experiment = next(iter(held.items()))
                raise ValidationError(
                    f"{wo_id} is carried out by the variants of experiment {experiment}: "
                    f"decide or cancel the experiment instead (`orch experiment show {experiment}`)"
                )
            for row in rows:
                self.set_wo_status(
                    row.id, WOStatus.READY, reason=reason, session=session, attempts=0
                )
                self.journal(session, RETRY_EVENT, "work_order", row.id, reason=reason)
            links = self.wo_tracks(session, wanted)
            resumed: list[str] = []
            active: set[str] = set()
            for track_id in sorted({t for ts in links.values() for t in ts}):
                track = self.get_track_row(session, track_id)
                if track.status == TrackStatus.PAUSED.value and track.blocked_reason:
                    self.move_track(
                        session, track_id, TrackStatus.ACTIVE, reason="work orders retried"
                    )
                    resumed.append(track_id)
                if track.status == TrackStatus.ACTIVE.value:
                    active.add(track_id)
        orphans = [w for w in wanted if not active.intersection(links.get(w, []))]
        return RetryResult(wanted, resumed, orphans)

    def retry_pending(self, wo_id: str) -> bool:
        """Whether ``wo_id`` was retried since it last started (so its track takes the base)."""
        with self.reading() as session:
            retried = session.exec(
                select(func.max(EventRow.id)).where(
                    EventRow.kind == RETRY_EVENT, EventRow.subject_id == wo_id
                )
            ).one()
            if retried is None:
                return False
            started = session.exec(
                select(func.max(EventRow.id)).where(
                    EventRow.kind == "wo_status",
                    EventRow.subject_id == wo_id,
                    EventRow.to_status == WOStatus.RUNNING.value,
                )
            ).one()
        return started is None or retried > started

    def _held_by_experiments(self, session: Session, wo_ids: Sequence[str]) -> dict[str, str]:
        """WO id -> open experiment whose variants carry it (its original must not run)."""
        if not wo_ids:
            return {}
        open_statuses = [s.value for s in OPEN_EXPERIMENT_STATUSES]
        rows = session.exec(
            select(ExperimentWORow.wo_id, ExperimentWORow.experiment_id)
            .join(ExperimentRow, col(ExperimentRow.id) == col(ExperimentWORow.experiment_id))
            .where(
                col(ExperimentWORow.wo_id).in_(list(wo_ids)),
                ExperimentWORow.role == "original",
                col(ExperimentRow.status).in_(open_statuses),
            )
        )
        return {wo_id: experiment_id for wo_id, experiment_id in rows}
