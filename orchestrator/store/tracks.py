"""Queries on tracks, their WO assignments, and their status transitions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.ids import validate_slug
from orchestrator.domain.lifecycle import TrackStatus, check_transition
from orchestrator.domain.models import TrackType
from orchestrator.domain.track import Track
from orchestrator.store import read_queries
from orchestrator.store.base import StoreBase, driver_of
from orchestrator.store.domain_rows import track_of
from orchestrator.store.locks import locked_row
from orchestrator.store.tables import ProjectRow, TrackRow, WorkOrderRow, WOTrackRow, utcnow

BRANCH_PREFIX = "tracks/"


class TrackQueries(StoreBase):
    def get_track_row(self, session: Session, track_id: str) -> TrackRow:
        row = session.get(TrackRow, track_id)
        if row is None:
            raise NotFoundError(f"unknown track {track_id!r}")
        return row

    def get_track(self, track_id: str) -> Track:
        with self.reading() as session:
            return track_of(self.get_track_row(session, track_id))

    def create_track(
        self,
        project: str,
        name: str,
        track_type: str,
        *,
        goal: str = "",
        parent: str | None = None,
        priority: int = 3,
        experiment: str | None = None,
        hypothesis: str | None = None,
        status: TrackStatus = TrackStatus.DRAFT,
    ) -> Track:
        """A new track; its id is its name, or ``<project>-<name>`` if another project has it."""
        with self.writing() as session:
            row = self.insert_track(
                session,
                project,
                name,
                track_type,
                goal=goal,
                parent=parent,
                priority=priority,
                experiment=experiment,
                hypothesis=hypothesis,
                status=status,
            )
            return track_of(row)

    def insert_track(
        self,
        session: Session,
        project: str,
        name: str,
        track_type: str,
        *,
        goal: str = "",
        parent: str | None = None,
        priority: int = 3,
        experiment: str | None = None,
        hypothesis: str | None = None,
        status: TrackStatus = TrackStatus.DRAFT,
    ) -> TrackRow:
        """``create_track`` in the caller's transaction, handing back the row to change."""
        validate_slug(name, "track name")
        # Every caller's type is checked here too (the CLI and proposals parse it first).
        track_type = TrackType.parse(track_type).value
        if session.get(ProjectRow, project) is None:
            raise NotFoundError(f"unknown project {project!r}")
        same = session.exec(
            select(TrackRow).where(TrackRow.project_id == project, TrackRow.name == name)
        ).first()
        if same is not None:
            raise ValidationError(f"project {project!r} already has a track named {name!r}")
        track_id = name if session.get(TrackRow, name) is None else f"{project}-{name}"
        validate_slug(track_id, "track id")
        if session.get(TrackRow, track_id) is not None:
            raise ValidationError(f"track id {track_id!r} is taken")
        if parent is not None:
            parent_row = self.get_track_row(session, parent)
            if parent_row.project_id != project:
                raise ValidationError(f"parent track {parent!r} belongs to another project")
            if parent_row.parent_track_id is not None:
                # One level of sub-tracks: the tree, the dashboard's bands and finishing a
                # parent after its sub-tracks all assume it.
                raise ValidationError(
                    f"track {parent!r} is itself a sub-track (of {parent_row.parent_track_id!r}); "
                    "sub-tracks have no sub-tracks"
                )
        row = TrackRow(
            id=track_id,
            project_id=project,
            name=name,
            goal=goal,
            type=track_type,
            status=status.value,
            priority=priority,
            parent_track_id=parent,
            experiment=experiment,
            hypothesis=hypothesis,
            branch=BRANCH_PREFIX + track_id,
        )
        session.add(row)
        session.flush()
        self.journal(
            session,
            "track_created",
            "track",
            track_id,
            to_status=row.status,
            project=project,
            name=name,
            type=track_type,
            parent=parent,
        )
        return row

    def list_tracks(
        self, project: str | None = None, status: str | None = None, track_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows for ``track list``, with WO counts, parents before their sub-tracks."""
        with self.reading() as session:
            return read_queries.track_list(driver_of(session), project, status, track_type)

    def subtree_work_orders(self, track_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """``wo list --track``: the WOs of a track and its sub-tracks, each once."""
        with self.reading() as session:
            self.get_track_row(session, track_id)
            return list(read_queries.track_wos(driver_of(session), track_id, status))

    def track_counts(self, project: str | None = None) -> dict[str, int]:
        with self.reading() as session:
            query = select(TrackRow.status, func.count()).group_by(TrackRow.status)
            if project is not None:
                query = query.where(TrackRow.project_id == project)
            return {status: n for status, n in session.exec(query)}

    def set_track_status(
        self,
        track_id: str,
        target: TrackStatus,
        *,
        reason: str = "",
        **fields: Any,
    ) -> Track:
        """Move a track through its lifecycle (journaled); ``fields`` are set on the row too."""
        with self.writing() as session:
            return track_of(self.move_track(session, track_id, target, reason=reason, **fields))

    def move_track(
        self,
        session: Session,
        track_id: str,
        target: TrackStatus,
        *,
        reason: str = "",
        **fields: Any,
    ) -> TrackRow:
        """``set_track_status`` in the caller's transaction, handing back the row."""
        row = locked_row(session, TrackRow, track_id)
        if row is None:
            raise NotFoundError(f"unknown track {track_id!r}")
        current = TrackStatus(row.status)
        check_transition("track", track_id, current, target)
        row.status = target.value
        row.updated_at = utcnow()
        if target is TrackStatus.ACTIVE and row.started_at is None:
            row.started_at = row.updated_at
        if target is TrackStatus.COMPLETED:
            row.completed_at = row.updated_at
        if target is TrackStatus.ACTIVE:
            row.blocked_reason = None
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)
        self.journal(
            session,
            "track_status",
            "track",
            track_id,
            from_status=current.value,
            to_status=target.value,
            reason=reason,
        )
        return row

    def subtracks(self, track_id: str) -> dict[str, TrackStatus]:
        """The sub-tracks of ``track_id`` and their statuses."""
        with self.reading() as session:
            rows = session.exec(
                select(TrackRow.id, TrackRow.status).where(TrackRow.parent_track_id == track_id)
            )
            return {sub_id: TrackStatus(status) for sub_id, status in rows}

    def fail_track(self, track_id: str, reason: str) -> Track:
        """Give a track up: ``paused -> failed`` (an active one is paused first, in the same
        transaction). Its branch and worktree are kept; ``cancel`` retires it."""
        with self.writing() as session:
            row = self.get_track_row(session, track_id)
            if row.status == TrackStatus.ACTIVE.value:
                self.move_track(session, track_id, TrackStatus.PAUSED, reason=reason)
            failed = self.move_track(
                session, track_id, TrackStatus.FAILED, reason=reason, blocked_reason=None
            )
            return track_of(failed)

    def update_track(self, track_id: str, **fields: Any) -> Track:
        with self.writing() as session:
            row = self.get_track_row(session, track_id)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
            self.journal(session, "track_updated", "track", track_id, fields=sorted(fields))
            return track_of(row)

    def assign(self, track_id: str, wo_ids: list[str], *, assign: bool = True) -> int:
        """Add (or with ``assign=False`` remove) WOs to a track; returns rows changed."""
        changed = 0
        with self.writing() as session:
            track = self.get_track_row(session, track_id)
            for wo_id in wo_ids:
                wo = session.get(WorkOrderRow, wo_id)
                if wo is None:
                    raise NotFoundError(f"unknown work order {wo_id!r}")
                if wo.project_id != track.project_id:
                    raise ValidationError(
                        f"{wo_id} belongs to project {wo.project_id!r}, "
                        f"track {track_id} to {track.project_id!r}"
                    )
                link = session.get(WOTrackRow, (wo_id, track_id))
                if assign and link is None:
                    session.add(WOTrackRow(wo_id=wo_id, track_id=track_id))
                    changed += 1
                elif not assign and link is not None:
                    session.delete(link)
                    changed += 1
            if changed:
                # A no-op (already assigned) is not a state change: nothing to journal.
                self.journal(
                    session,
                    "track_assigned" if assign else "track_unassigned",
                    "track",
                    track_id,
                    wo_ids=wo_ids,
                )
        return changed
