"""Experiments in the state DB: starting one (all of it in one transaction) and reading back.

The status moves (evaluation, decision, landing, cancel) are in ``experiment_moves``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, select

from orchestrator.domain.errors import NotFoundError
from orchestrator.domain.experiment import (
    OPEN_EXPERIMENT_STATUSES,
    Experiment,
    ExperimentStatus,
)
from orchestrator.domain.experiment_plan import VariantProgress
from orchestrator.domain.experiment_spec import (
    ExperimentSpec,
)
from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.store.experiment_rows import to_experiment
from orchestrator.store.tables import (
    AgentRunRow,
    EvalRunRow,
    ExperimentRow,
    ExperimentVariantRow,
    ExperimentWORow,
    TrackRow,
    WorkOrderRow,
    WOTrackRow,
)
from orchestrator.store.tracks import TrackQueries
from orchestrator.store.work_orders import WorkOrderQueries, row_to_wo

#: Original WO statuses an experiment may take on (done, running or cancelled ones not).
TAKEABLE_WO_STATUSES = {WOStatus.BACKLOG, WOStatus.READY, WOStatus.BLOCKED, WOStatus.FAILED}
#: Experiments that still hold their WOs (a cancelled or failed one gave them back).
HOLDING_STATUSES = (*(s.value for s in OPEN_EXPERIMENT_STATUSES), ExperimentStatus.MERGED.value)


@dataclass(frozen=True)
class NewExperiment:
    """What the caller found out before asking the store to start an experiment."""

    spec: ExperimentSpec
    project: str
    base_branch: str
    base_commit: str
    eval_timeout_s: float


class ExperimentQueries(WorkOrderQueries, TrackQueries):
    # -- reads -------------------------------------------------------------------------------

    def _load(self, session: Session, rows: Sequence[ExperimentRow]) -> list[Experiment]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        variants = list(
            session.exec(
                select(ExperimentVariantRow).where(col(ExperimentVariantRow.experiment_id).in_(ids))
            )
        )
        runs = list(session.exec(select(EvalRunRow).where(col(EvalRunRow.experiment_id).in_(ids))))
        links = list(
            session.exec(
                select(ExperimentWORow).where(
                    col(ExperimentWORow.experiment_id).in_(ids), ExperimentWORow.role == "original"
                )
            )
        )
        return [
            to_experiment(
                row,
                [v for v in variants if v.experiment_id == row.id],
                [r for r in runs if r.experiment_id == row.id],
                sorted(link.wo_id for link in links if link.experiment_id == row.id),
            )
            for row in rows
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self.reading() as session:
            row = session.get(ExperimentRow, experiment_id)
            if row is None:
                raise NotFoundError(f"unknown experiment {experiment_id!r}")
            return self._load(session, [row])[0]

    def list_experiments(
        self, project: str | None = None, statuses: Collection[ExperimentStatus] | None = None
    ) -> list[Experiment]:
        """Experiments (of ``project``, in ``statuses``), oldest first."""
        with self.reading() as session:
            query = select(ExperimentRow)
            if project is not None:
                query = query.where(ExperimentRow.project_id == project)
            if statuses is not None:
                query = query.where(col(ExperimentRow.status).in_([s.value for s in statuses]))
            rows = list(session.exec(query.order_by(col(ExperimentRow.created_at))))
            return self._load(session, rows)

    def experiment_of_track(self, track_id: str) -> Experiment | None:
        """The experiment ``track_id`` is a variant of, if any."""
        with self.reading() as session:
            variant = session.get(ExperimentVariantRow, track_id)
            if variant is None:
                return None
            row = session.get(ExperimentRow, variant.experiment_id)
            return None if row is None else self._load(session, [row])[0]

    def experiment_problem(self, experiment_id: str) -> list[WorkOrder]:
        """The experiment's original WOs (its problem), by id."""
        with self.reading() as session:
            ids = session.exec(
                select(ExperimentWORow.wo_id).where(
                    ExperimentWORow.experiment_id == experiment_id,
                    ExperimentWORow.role == "original",
                )
            ).all()
            rows = session.exec(select(WorkOrderRow).where(col(WorkOrderRow.id).in_(ids)))
            return [row_to_wo(r, []) for r in sorted(rows, key=lambda r: r.id)]

    def variant_progress(self, experiment: Experiment) -> dict[str, VariantProgress]:
        """Per variant track: its status, unfinished and failed WOs, live runs, cost."""
        tracks = [v.track_id for v in experiment.variants]
        with self.reading() as session:
            rows = {
                t.id: t for t in session.exec(select(TrackRow).where(col(TrackRow.id).in_(tracks)))
            }
            links = list(
                session.exec(select(WOTrackRow).where(col(WOTrackRow.track_id).in_(tracks)))
            )
            wos = {
                w.id: w
                for w in session.exec(
                    select(WorkOrderRow).where(
                        col(WorkOrderRow.id).in_([link.wo_id for link in links])
                    )
                )
            }
            runs = list(
                session.exec(select(AgentRunRow).where(col(AgentRunRow.track_id).in_(tracks)))
            )
        result = {}
        for track_id, track in rows.items():
            members = [wos[link.wo_id] for link in links if link.track_id == track_id]
            result[track_id] = VariantProgress(
                track_status=TrackStatus(track.status),
                unfinished=sum(1 for w in members if w.status != WOStatus.DONE.value),
                failed_wos=tuple(
                    sorted(w.id for w in members if w.status == WOStatus.FAILED.value)
                ),
                live_runs=sum(
                    1 for r in runs if r.track_id == track_id and r.status in ("running", "parked")
                ),
                cost_usd=sum(r.cost_usd for r in runs if r.track_id == track_id),
                has_worktree=bool(track.worktree_path),
            )
        return result

    def variant_usage(self, track_id: str) -> tuple[float, int]:
        """(cost in USD, tokens) of every run on a variant's track."""
        with self.reading() as session:
            runs = list(session.exec(select(AgentRunRow).where(AgentRunRow.track_id == track_id)))
        return sum(r.cost_usd for r in runs), sum(r.input_tokens + r.output_tokens for r in runs)

    def experiments_in_play(self) -> list[Experiment]:
        """Open experiments, and ended ones whose losing tracks are not cleaned up yet."""
        final_tracks = ("cancelled", "completed", "archived")
        with self.reading() as session:
            open_rows = list(
                session.exec(
                    select(ExperimentRow)
                    .where(
                        col(ExperimentRow.status).in_([s.value for s in OPEN_EXPERIMENT_STATUSES])
                    )
                    .order_by(col(ExperimentRow.created_at))
                )
            )
            pending = set(
                session.exec(
                    select(ExperimentVariantRow.experiment_id)
                    .join(
                        ExperimentRow,
                        col(ExperimentRow.id) == col(ExperimentVariantRow.experiment_id),
                    )
                    .join(TrackRow, col(TrackRow.id) == col(ExperimentVariantRow.track_id))
                    .where(
                        col(ExperimentRow.status).not_in(
                            [s.value for s in OPEN_EXPERIMENT_STATUSES]
                        ),
                        or_(
                            col(ExperimentRow.winner_track_id).is_(None),
                            col(ExperimentVariantRow.track_id)
                            != col(ExperimentRow.winner_track_id),
                        ),
                        or_(
                            col(TrackRow.status).not_in(final_tracks),
                            col(TrackRow.worktree_path).is_not(None),
                        ),
                    )
                )
            )
            ended = [session.get(ExperimentRow, i) for i in sorted(pending)]
            return self._load(session, open_rows + [r for r in ended if r is not None])
