"""Queries on work orders, their dependencies, and their status transitions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.ids import format_wo_id, parse_wo_id, validate_wo_id
from orchestrator.domain.lifecycle import WOStatus, check_transition
from orchestrator.domain.models import WorkOrder, WorkOrderRecord
from orchestrator.domain.wo_graph import find_cycle
from orchestrator.store import read_queries
from orchestrator.store.base import StoreBase, driver_of
from orchestrator.store.locks import Serial, locked_row, serialize
from orchestrator.store.tables import (
    ProjectRow,
    WODependencyRow,
    WorkOrderRow,
    WOTrackRow,
    utcnow,
)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def row_to_wo(row: WorkOrderRow, depends_on: Sequence[str]) -> WorkOrder:
    return WorkOrder(
        id=row.id,
        title=row.title,
        goal=row.goal,
        context=tuple(row.context),
        acceptance_criteria=tuple(row.acceptance_criteria),
        non_goals=tuple(row.non_goals),
        priority=row.priority,
        tags=tuple(row.tags),
        depends_on=tuple(depends_on),
        status=WOStatus(row.status),
        estimate_hours=row.estimate_hours,
        created_at=_date(row.created_on),
        updated_at=_date(row.updated_on),
        body=row.body,
        extra=dict(row.extra),
    )


def _fill_row(row: WorkOrderRow, wo: WorkOrder) -> None:
    row.title = wo.title
    row.goal = wo.goal
    row.context = list(wo.context)
    row.acceptance_criteria = list(wo.acceptance_criteria)
    row.non_goals = list(wo.non_goals)
    row.priority = wo.priority
    row.tags = list(wo.tags)
    row.estimate_hours = wo.estimate_hours
    row.created_on = _iso(wo.created_at)
    row.updated_on = _iso(wo.updated_at)
    row.body = wo.body
    row.extra = dict(wo.extra)


class WorkOrderQueries(StoreBase):
    # -- reads -------------------------------------------------------------------------------

    def get_wo_row(self, session: Session, wo_id: str) -> WorkOrderRow:
        row = session.get(WorkOrderRow, wo_id)
        if row is None:
            raise NotFoundError(f"unknown work order {wo_id!r}")
        return row

    def dependencies(
        self, session: Session, wo_ids: Iterable[str] | None = None
    ) -> dict[str, list[str]]:
        query = select(WODependencyRow)
        if wo_ids is not None:
            query = query.where(col(WODependencyRow.wo_id).in_(list(wo_ids)))
        deps: dict[str, list[str]] = defaultdict(list)
        for dep in session.exec(query.order_by(WODependencyRow.depends_on_id)):
            deps[dep.wo_id].append(dep.depends_on_id)
        return deps

    def wo_dependencies(self) -> dict[str, tuple[str, ...]]:
        """Every WO's ``depends_on``, by id (for validating an import batch)."""
        with self.reading() as session:
            return {k: tuple(v) for k, v in self.dependencies(session).items()}

    def wo_tracks(
        self, session: Session, wo_ids: Iterable[str] | None = None
    ) -> dict[str, list[str]]:
        query = select(WOTrackRow)
        if wo_ids is not None:
            query = query.where(col(WOTrackRow.wo_id).in_(list(wo_ids)))
        tracks: dict[str, list[str]] = defaultdict(list)
        for link in session.exec(query.order_by(WOTrackRow.track_id)):
            tracks[link.wo_id].append(link.track_id)
        return tracks

    def wo_ids(self) -> set[str]:
        with self.reading() as session:
            return set(session.exec(select(WorkOrderRow.id)))

    def get_work_order(self, wo_id: str) -> tuple[WorkOrderRecord, WorkOrder, list[str]]:
        """What is kept about it, the WO itself, and the ids of the tracks it belongs to."""
        with self.reading() as session:
            row = self.get_wo_row(session, wo_id)
            deps = self.dependencies(session, [wo_id]).get(wo_id, [])
            tracks = self.wo_tracks(session, [wo_id]).get(wo_id, [])
        record = WorkOrderRecord(
            id=row.id,
            project_id=row.project_id,
            status=WOStatus(row.status),
            source=row.source,
            attempts=row.attempts,
            last_error=row.last_error,
            done_commit=row.done_commit,
        )
        return record, row_to_wo(row, deps), tracks

    def list_work_orders(
        self,
        project: str | None = None,
        track: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows for ``wo list`` (keys as documented in DESIGN.md), by priority then id."""
        if track is None:
            with self.reading() as session:
                return read_queries.work_order_list(driver_of(session), project, status)
        with self.reading() as session:
            query = select(WorkOrderRow)
            if project is not None:
                query = query.where(WorkOrderRow.project_id == project)
            if status is not None:
                query = query.where(WorkOrderRow.status == status)
            if track is not None:
                query = query.join(WOTrackRow, col(WOTrackRow.wo_id) == col(WorkOrderRow.id)).where(
                    WOTrackRow.track_id == track
                )
            query = query.order_by(col(WorkOrderRow.priority), col(WorkOrderRow.id))
            rows = list(session.exec(query))
            ids = [r.id for r in rows] if (track is not None or len(rows) < 500) else None
            deps = self.dependencies(session, ids)
            tracks = self.wo_tracks(session, ids)
        return [
            {
                "id": r.id,
                "project": r.project_id,
                "title": r.title,
                "status": r.status,
                "priority": r.priority,
                "tags": list(r.tags),
                "depends_on": deps.get(r.id, []),
                "tracks": tracks.get(r.id, []),
            }
            for r in rows
        ]

    def export_work_orders(self, project: str | None = None) -> list[WorkOrder]:
        with self.reading() as session:
            query = select(WorkOrderRow)
            if project is not None:
                query = query.where(WorkOrderRow.project_id == project)
            rows = list(session.exec(query.order_by(WorkOrderRow.id)))
            deps = self.dependencies(session)
        return [row_to_wo(r, deps.get(r.id, [])) for r in rows]

    def wo_counts(self, project: str | None = None) -> dict[str, int]:
        with self.reading() as session:
            query = select(WorkOrderRow.status, func.count()).group_by(WorkOrderRow.status)
            if project is not None:
                query = query.where(WorkOrderRow.project_id == project)
            return {status: n for status, n in session.exec(query)}

    # -- writes ------------------------------------------------------------------------------

    def next_wo_id(self, session: Session, year: int) -> str:
        prefix = f"WO-{year:04d}-"
        ids = session.exec(select(WorkOrderRow.id).where(col(WorkOrderRow.id).startswith(prefix)))
        highest = max((parse_wo_id(i)[1] for i in ids), default=0)
        return format_wo_id(year, highest + 1)

    def add_work_order(
        self, project: str, wo: WorkOrder, source: str = "cli", run_id: str | None = None
    ) -> WorkOrder:
        """Insert one new WO; an empty ``wo.id`` gets the next free id of this year."""
        with self.writing() as session:
            # The next free id is a choice over all WOs (see store.locks).
            serialize(session, Serial.WO_IDS)
            project_row = session.get(ProjectRow, project, with_for_update=True)
            if project_row is None:
                raise NotFoundError(f"unknown project {project!r}")
            # An id becomes a file name on export: checked here for every caller.
            wo_id = validate_wo_id(wo.id) if wo.id else self.next_wo_id(session, utcnow().year)
            if session.get(WorkOrderRow, wo_id) is not None:
                raise ValidationError(f"work order {wo_id} already exists")
            self._check_deps(session, {wo_id: list(wo.depends_on)})
            row = WorkOrderRow(
                id=wo_id, project_id=project, title=wo.title, source=source, status=wo.status.value
            )
            _fill_row(row, wo)
            session.add(row)
            session.flush()
            for dep in wo.depends_on:
                session.add(WODependencyRow(wo_id=wo_id, depends_on_id=dep))
            project_row.new_wos_since_organize += 1
            self.journal(
                session,
                "wo_created",
                "work_order",
                wo_id,
                to_status=row.status,
                run_id=run_id,
                project=project,
                source=source,
            )
        return row_to_wo(row, wo.depends_on)

    def _check_deps(self, session: Session, new_deps: dict[str, list[str]]) -> None:
        known = set(session.exec(select(WorkOrderRow.id)))
        for wo_id, deps in new_deps.items():
            for dep in deps:
                if dep == wo_id:
                    raise ValidationError(f"{wo_id} depends on itself")
                if dep not in known and dep not in new_deps:
                    raise ValidationError(f"{wo_id} depends on unknown work order {dep}")
        graph = {k: list(v) for k, v in self.dependencies(session).items()}
        graph.update(new_deps)
        cycle = find_cycle(graph)
        if cycle:
            raise ValidationError("dependency cycle: " + " -> ".join(cycle))

    def upsert_work_orders(self, project: str, batch: Sequence[WorkOrder]) -> tuple[int, int]:
        """Insert or update a validated import batch in one transaction: (created, updated)."""
        created = updated = 0
        with self.writing() as session:
            serialize(session, Serial.WO_IDS)
            project_row = session.get(ProjectRow, project, with_for_update=True)
            if project_row is None:
                raise NotFoundError(f"unknown project {project!r}")
            for wo in batch:
                row = session.get(WorkOrderRow, wo.id)
                if row is None:
                    row = WorkOrderRow(
                        id=wo.id,
                        project_id=project,
                        title=wo.title,
                        source="import",
                        status=wo.status.value,
                    )
                    _fill_row(row, wo)
                    session.add(row)
                    created += 1
                    project_row.new_wos_since_organize += 1
                    self.journal(
                        session,
                        "wo_created",
                        "work_order",
                        wo.id,
                        to_status=row.status,
                        project=project,
                        source="import",
                    )
                    continue
                if row.project_id != project:
                    raise ValidationError(f"{wo.id} belongs to project {row.project_id!r}")
                before = row_to_wo(row, [])
                if row.status != wo.status.value:
                    check_transition("work order", wo.id, WOStatus(row.status), wo.status)
                    self.journal(
                        session,
                        "wo_status",
                        "work_order",
                        wo.id,
                        from_status=row.status,
                        to_status=wo.status.value,
                        reason="import",
                    )
                    row.status = wo.status.value
                _fill_row(row, wo)
                if row_to_wo(row, []) != before:
                    row.changed_at = utcnow()
                    updated += 1
                    self.journal(session, "wo_updated", "work_order", wo.id, source="import")
                session.add(row)
            session.flush()
            ids = [wo.id for wo in batch]
            old = self.dependencies(session, ids)
            for wo in batch:
                if sorted(old.get(wo.id, [])) == sorted(wo.depends_on):
                    continue
                for dep_row in session.exec(
                    select(WODependencyRow).where(WODependencyRow.wo_id == wo.id)
                ):
                    session.delete(dep_row)
                session.flush()
                for dep in wo.depends_on:
                    session.add(WODependencyRow(wo_id=wo.id, depends_on_id=dep))
        return created, updated

    def set_wo_status(
        self,
        wo_id: str,
        target: WOStatus,
        *,
        reason: str = "",
        run_id: str | None = None,
        session: Session | None = None,
        **fields: Any,
    ) -> None:
        """Move a WO through its lifecycle (journaled); ``fields`` are set on the row too."""
        if session is None:
            with self.writing() as own:
                self.set_wo_status(
                    wo_id, target, reason=reason, run_id=run_id, session=own, **fields
                )
                return
        row = locked_row(session, WorkOrderRow, wo_id)
        if row is None:
            raise NotFoundError(f"unknown work order {wo_id!r}")
        current = WOStatus(row.status)
        check_transition("work order", wo_id, current, target)
        row.status = target.value
        row.changed_at = utcnow()
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)
        self.journal(
            session,
            "wo_status",
            "work_order",
            wo_id,
            from_status=current.value,
            to_status=target.value,
            run_id=run_id,
            reason=reason,
        )
