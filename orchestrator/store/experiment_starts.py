"""Starting an experiment in the state DB: all of it in one transaction, or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlmodel import Session, col, select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.experiment import Experiment, ExperimentStatus, VariantStatus
from orchestrator.domain.experiment_spec import (
    goal_work_order,
    variant_copies,
    variant_track_names,
)
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import TrackType, WorkOrder
from orchestrator.store.experiments import (
    HOLDING_STATUSES,
    TAKEABLE_WO_STATUSES,
    ExperimentQueries,
    NewExperiment,
)
from orchestrator.store.tables import (
    ExperimentRow,
    ExperimentVariantRow,
    ExperimentWORow,
    ProjectRow,
    TrackRow,
    WODependencyRow,
    WorkOrderRow,
    WOTrackRow,
    utcnow,
)
from orchestrator.store.work_orders import _fill_row, row_to_wo


class ExperimentStarts(ExperimentQueries):
    def start_experiment(self, new: NewExperiment) -> Experiment:
        """Create the experiment, its variant tracks (draft) and their WO copies, block the
        originals, all in one transaction: a refusal (ValidationError, NotFoundError)
        changes nothing."""
        spec = new.spec
        with self.writing() as session:
            if session.get(ProjectRow, new.project) is None:
                raise NotFoundError(f"unknown project {new.project!r}")
            experiment_id = self._free_experiment_id(session, new.project, spec.name)
            originals = self._take_originals(session, new.project, spec.wo_ids)
            names = variant_track_names(spec)
            for name in names:
                taken = session.exec(
                    select(TrackRow).where(
                        TrackRow.project_id == new.project, TrackRow.name == name
                    )
                ).first()
                if taken is not None:
                    raise ValidationError(
                        f"project {new.project!r} already has a track named {name!r}"
                    )
            if spec.goal.strip():
                goal_wo = self._insert_wo(session, new.project, goal_work_order(spec))
                originals.append(goal_wo)
            session.add(
                ExperimentRow(
                    id=experiment_id,
                    project_id=new.project,
                    name=spec.name,
                    status=ExperimentStatus.RUNNING.value,
                    goal=spec.goal,
                    base_branch=new.base_branch,
                    base_commit=new.base_commit,
                    eval_command=spec.eval_command,
                    metric=spec.metric,
                    direction=spec.direction.value,
                    eval_runs=spec.eval_runs,
                    eval_timeout_s=new.eval_timeout_s,
                    decide=spec.decide.value,
                    budget_per_variant_usd=spec.budget_per_variant_usd,
                )
            )
            session.flush()
            for wo in originals:
                session.add(
                    ExperimentWORow(experiment_id=experiment_id, wo_id=wo.id, role="original")
                )
                self._block_original(session, wo, experiment_id)
            for position, (name, hypothesis) in enumerate(zip(names, spec.hypotheses, strict=True)):
                self._add_variant(
                    session, experiment_id, new, name, position, hypothesis.text, originals
                )
            self.journal(
                session,
                "experiment_created",
                "experiment",
                experiment_id,
                to_status=ExperimentStatus.RUNNING.value,
                project=new.project,
                base_commit=new.base_commit,
                variants=names,
                originals=[w.id for w in originals],
            )
        return self.get_experiment(experiment_id)

    def _free_experiment_id(self, session: Session, project: str, name: str) -> str:
        same = session.exec(
            select(ExperimentRow).where(
                ExperimentRow.project_id == project, ExperimentRow.name == name
            )
        ).first()
        if same is not None:
            raise ValidationError(f"project {project!r} already has an experiment named {name!r}")
        experiment_id = name if session.get(ExperimentRow, name) is None else f"{project}-{name}"
        if session.get(ExperimentRow, experiment_id) is not None:
            raise ValidationError(f"experiment id {experiment_id!r} is taken")
        return experiment_id

    def _take_originals(
        self, session: Session, project: str, wo_ids: Sequence[str]
    ) -> list[WorkOrder]:
        originals = []
        for wo_id in wo_ids:
            row = session.get(WorkOrderRow, wo_id)
            if row is None:
                raise NotFoundError(f"unknown work order {wo_id!r}")
            if row.project_id != project:
                raise ValidationError(
                    f"{wo_id} belongs to project {row.project_id!r}, not {project!r}"
                )
            holder = session.exec(
                select(ExperimentWORow.experiment_id)
                .join(ExperimentRow, col(ExperimentRow.id) == col(ExperimentWORow.experiment_id))
                .where(
                    ExperimentWORow.wo_id == wo_id, col(ExperimentRow.status).in_(HOLDING_STATUSES)
                )
            ).first()
            if holder is not None:
                raise ValidationError(f"{wo_id} is already in experiment {holder}")
            if WOStatus(row.status) not in TAKEABLE_WO_STATUSES:
                raise ValidationError(
                    f"{wo_id} is {row.status}: an experiment takes only unfinished work "
                    "orders that are not running"
                )
            deps = session.exec(
                select(WODependencyRow.depends_on_id).where(WODependencyRow.wo_id == wo_id)
            ).all()
            originals.append(row_to_wo(row, sorted(deps)))
        return originals

    def _insert_wo(
        self, session: Session, project: str, wo: WorkOrder, source: str = "experiment"
    ) -> WorkOrder:
        wo_id = wo.id or self.next_wo_id(session, utcnow().year)
        row = WorkOrderRow(
            id=wo_id, project_id=project, title=wo.title, source=source, status=wo.status.value
        )
        _fill_row(row, wo)
        session.add(row)
        session.flush()
        for dep in wo.depends_on:
            session.add(WODependencyRow(wo_id=wo_id, depends_on_id=dep))
        self.journal(
            session,
            "wo_created",
            "work_order",
            wo_id,
            to_status=row.status,
            project=project,
            source=source,
        )
        return replace(wo, id=wo_id)

    def _block_original(self, session: Session, wo: WorkOrder, experiment_id: str) -> None:
        why = f"carried out by the variants of experiment {experiment_id}"
        row = self.get_wo_row(session, wo.id)
        if row.status == WOStatus.FAILED.value:
            self.set_wo_status(wo.id, WOStatus.READY, reason=why, session=session)
        if row.status != WOStatus.BLOCKED.value:
            self.set_wo_status(wo.id, WOStatus.BLOCKED, reason=why, session=session, last_error=why)

    def _add_variant(
        self,
        session: Session,
        experiment_id: str,
        new: NewExperiment,
        name: str,
        position: int,
        hypothesis: str,
        originals: Sequence[WorkOrder],
    ) -> None:
        track = self.insert_track(
            session,
            new.project,
            name,
            TrackType.EXPERIMENT.value,
            goal=f"Experiment {experiment_id}: {hypothesis}"[:500],
            experiment=experiment_id,
            hypothesis=hypothesis,
        )
        track.budget_usd = new.spec.budget_per_variant_usd
        session.add(track)
        new_ids: dict[str, str] = {}
        for wo in originals:
            new_ids[wo.id] = self.next_wo_id(session, utcnow().year)
            # Reserve the id at once so that the next one differs.
            session.add(
                WorkOrderRow(
                    id=new_ids[wo.id], project_id=new.project, title="", source="experiment"
                )
            )
            session.flush()
        for copy in variant_copies(originals, experiment_id, track.id, hypothesis, new_ids):
            row = session.get(WorkOrderRow, copy.id)
            assert row is not None
            row.title = copy.title
            _fill_row(row, copy)
            session.add(row)
            for dep in copy.depends_on:
                session.add(WODependencyRow(wo_id=copy.id, depends_on_id=dep))
            session.add(WOTrackRow(wo_id=copy.id, track_id=track.id))
            session.add(
                ExperimentWORow(
                    experiment_id=experiment_id,
                    wo_id=copy.id,
                    role="copy",
                    variant_track_id=track.id,
                    original_wo_id=next(k for k, v in new_ids.items() if v == copy.id),
                )
            )
            self.journal(
                session,
                "wo_created",
                "work_order",
                copy.id,
                to_status=row.status,
                project=new.project,
                source="experiment",
            )
        session.add(
            ExperimentVariantRow(
                track_id=track.id,
                experiment_id=experiment_id,
                position=position,
                hypothesis=hypothesis,
                status=VariantStatus.RUNNING.value,
            )
        )
        self.journal(session, "track_assigned", "track", track.id, wo_ids=list(new_ids.values()))
