"""Queries of track organization: a project's structure as plain data, and track proposals.

A proposal is stored, never applied directly. Approving one applies its plan in one
BEGIN IMMEDIATE transaction, after checking that the project still has the fingerprint the
proposal was made against; when it has not, the proposal is marked stale instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.organization import (
    OrganizeMode,
    OrgState,
    Proposal,
    ProposalRecord,
    ProposalStatus,
    TrackInfo,
    WOInfo,
)
from orchestrator.domain.proposal_diff import Plan, plan_application
from orchestrator.store.domain_rows import proposal_of
from orchestrator.store.tables import (
    ExperimentVariantRow,
    ProjectRow,
    TrackProposalRow,
    TrackRow,
    WorkOrderRow,
    WOTrackRow,
    utcnow,
)
from orchestrator.store.tracks import TrackQueries
from orchestrator.store.work_orders import WorkOrderQueries


@dataclass(frozen=True)
class ApplyResult:
    proposal_id: int
    #: True when the project changed since the proposal was made: nothing was applied.
    stale: bool = False
    #: Proposal key -> id of each track created.
    created: dict[str, str] = field(default_factory=dict)
    edited: int = 0
    links: int = 0


class ProposalQueries(WorkOrderQueries, TrackQueries):
    # -- the structure --------------------------------------------------------------------

    def org_state(self, project: str, session: Session | None = None) -> OrgState:
        """The project's tracks and WOs (with live-track assignments) in one snapshot."""
        if session is None:
            with self.reading() as own:
                return self.org_state(project, own)
        if session.get(ProjectRow, project) is None:
            raise NotFoundError(f"unknown project {project!r}")
        # Experiment variants belong to their experiment, not to the organizer's structure:
        # they take no lane in its count of top-level tracks, and it never regroups their WOs.
        variant_ids = set(session.exec(select(ExperimentVariantRow.track_id)))
        track_rows = [
            row
            for row in session.exec(
                select(TrackRow).where(TrackRow.project_id == project).order_by(col(TrackRow.id))
            )
            if row.id not in variant_ids
        ]
        tracks = tuple(
            TrackInfo(r.id, r.name, r.goal, r.type, r.status, r.parent_track_id) for r in track_rows
        )
        live = {t.id for t in tracks if not t.retired}
        wo_rows = list(
            session.exec(
                select(WorkOrderRow)
                .where(WorkOrderRow.project_id == project)
                .order_by(col(WorkOrderRow.id))
            )
        )
        ids = [r.id for r in wo_rows]
        # Small projects ask for their own ids; large ones read the whole (indexed) tables
        # rather than send thousands of bound parameters.
        subset = ids if len(ids) < 500 else None
        deps = self.dependencies(session, subset)
        links = self.wo_tracks(session, subset)
        wo_rows = [r for r in wo_rows if not _variant_copy(links.get(r.id, []), variant_ids)]
        wos = tuple(
            WOInfo(
                id=r.id,
                title=r.title,
                tags=tuple(r.tags),
                status=r.status,
                depends_on=tuple(deps.get(r.id, [])),
                tracks=tuple(t for t in links.get(r.id, []) if t in live),
                priority=r.priority,
            )
            for r in wo_rows
        )
        return OrgState(project=project, tracks=tracks, work_orders=wos)

    def new_wo_counts(self) -> dict[str, int]:
        """WOs created per project since its last organization (the auto trigger)."""
        with self.reading() as session:
            return {p.id: p.new_wos_since_organize for p in session.exec(select(ProjectRow))}

    def consume_new_wos(self, project: str, count: int) -> None:
        """The organizer has seen ``count`` new WOs; later ones keep counting."""
        with self.writing() as session:
            row = session.get(ProjectRow, project, with_for_update=True)
            if row is None:
                raise NotFoundError(f"unknown project {project!r}")
            row.new_wos_since_organize = max(0, row.new_wos_since_organize - count)
            session.add(row)

    # -- proposals --------------------------------------------------------------------------

    def add_proposal(
        self,
        project: str,
        mode: OrganizeMode,
        based_on: str,
        proposal: dict[str, Any],
        *,
        run_id: str | None = None,
        consumed_new_wos: int = 0,
    ) -> ProposalRecord:
        """Store a pending proposal; older pending ones of the project are superseded (stale)."""
        with self.writing() as session:
            project_row = session.get(ProjectRow, project, with_for_update=True)
            if project_row is None:
                raise NotFoundError(f"unknown project {project!r}")
            for older in session.exec(
                select(TrackProposalRow).where(
                    TrackProposalRow.project_id == project,
                    TrackProposalRow.status == ProposalStatus.PENDING.value,
                )
            ):
                self._set_proposal_status(session, older, ProposalStatus.STALE, "superseded")
            row = TrackProposalRow(
                project_id=project,
                mode=mode.value,
                based_on=based_on,
                proposal=proposal,
                run_id=run_id,
            )
            session.add(row)
            project_row.new_wos_since_organize = max(
                0, project_row.new_wos_since_organize - consumed_new_wos
            )
            session.add(project_row)
            session.flush()
            assert row.id is not None
            self.journal(
                session,
                "proposal_created",
                "proposal",
                str(row.id),
                to_status=row.status,
                run_id=run_id,
                project=project,
                mode=mode.value,
            )
            return proposal_of(row)

    def get_proposal(self, proposal_id: int) -> ProposalRecord:
        with self.reading() as session:
            return proposal_of(self._proposal_row(session, proposal_id))

    def list_proposals(
        self, project: str | None = None, status: str | None = None
    ) -> list[ProposalRecord]:
        with self.reading() as session:
            query = select(TrackProposalRow)
            if project is not None:
                query = query.where(TrackProposalRow.project_id == project)
            if status is not None:
                query = query.where(TrackProposalRow.status == status)
            return [proposal_of(r) for r in session.exec(query.order_by(col(TrackProposalRow.id)))]

    def refresh_stale(self, project: str | None = None) -> list[int]:
        """Mark pending proposals made against an older state stale; returns their ids."""
        pending = self.list_proposals(project, ProposalStatus.PENDING.value)
        if not pending:
            return []
        now = {p: self.org_state(p).fingerprint() for p in {r.project_id for r in pending}}
        outdated = [r.id for r in pending if r.based_on != now[r.project_id]]
        if outdated:
            with self.writing() as session:
                for proposal_id in outdated:
                    row = session.get(TrackProposalRow, proposal_id)
                    if row is not None and row.status == ProposalStatus.PENDING.value:
                        self._set_proposal_status(
                            session, row, ProposalStatus.STALE, "the project changed since"
                        )
        return outdated

    def reject_proposal(self, proposal_id: int, reason: str = "") -> ProposalRecord:
        """Reject a proposal that was not applied; it is kept for the record."""
        with self.writing() as session:
            row = self._proposal_row(session, proposal_id)
            if row.status in (ProposalStatus.APPROVED.value, ProposalStatus.REJECTED.value):
                raise ValidationError(f"proposal {proposal_id} is already {row.status}")
            self._set_proposal_status(session, row, ProposalStatus.REJECTED, reason or "rejected")
            return proposal_of(row)

    def apply_proposal(self, proposal_id: int, *, auto: bool = False) -> ApplyResult:
        """Apply a pending proposal in one transaction, or mark it stale (see ApplyResult)."""
        with self.writing() as session:
            row = self._proposal_row(session, proposal_id)
            if row.status != ProposalStatus.PENDING.value:
                raise ValidationError(
                    f"proposal {proposal_id} is {row.status}, not pending: nothing to apply"
                )
            state = self.org_state(row.project_id, session)
            if state.fingerprint() != row.based_on:
                # A refused approval by hand writes nothing (it exits as bad input; `review
                # list` marks the proposal stale when it next looks); the daemon's own
                # attempt records what it found.
                if auto:
                    self._set_proposal_status(
                        session, row, ProposalStatus.STALE, "the project changed since"
                    )
                return ApplyResult(proposal_id, stale=True)
            proposal = Proposal.from_json(row.proposal)
            plan = plan_application(state, proposal)
            created = self._apply_plan(session, row, plan)
            row.decided_at = utcnow()
            self._set_proposal_status(
                session,
                row,
                ProposalStatus.APPROVED,
                "applied automatically" if auto else "approved",
                auto=auto,
                created=created,
                edited=len(plan.edits),
                links=len(plan.links),
            )
            return ApplyResult(proposal_id, False, created, len(plan.edits), len(plan.links))

    # -- helpers ------------------------------------------------------------------------------

    def _proposal_row(self, session: Session, proposal_id: int) -> TrackProposalRow:
        # Beyond SQLite's 64-bit integers no row can match (and the driver would overflow).
        in_range = -(2**63) <= proposal_id < 2**63
        row = session.get(TrackProposalRow, proposal_id) if in_range else None
        if row is None:
            raise NotFoundError(f"unknown proposal {proposal_id}")
        return row

    def _set_proposal_status(
        self,
        session: Session,
        row: TrackProposalRow,
        status: ProposalStatus,
        reason: str,
        **data: Any,
    ) -> None:
        before = row.status
        row.status = status.value
        if status is not ProposalStatus.PENDING and row.decided_at is None:
            row.decided_at = utcnow()
        session.add(row)
        self.journal(
            session,
            f"proposal_{status.value}",
            "proposal",
            str(row.id),
            from_status=before,
            to_status=status.value,
            project=row.project_id,
            reason=reason,
            **data,
        )

    def _apply_plan(self, session: Session, row: TrackProposalRow, plan: Plan) -> dict[str, str]:
        project = row.project_id
        why = f"proposal {row.id}"
        ids: dict[str, str] = {}

        def resolve(target: str) -> str:
            return ids.get(target, target)

        for track in plan.new_tracks:
            created = self.insert_track(
                session,
                project,
                track.name,
                track.type,
                goal=track.goal,
                parent=resolve(track.parent) if track.parent else None,
                status=TrackStatus(track.status),
            )
            ids[track.key] = created.id
        for edit in plan.edits:
            track_row = self.get_track_row(session, edit.id)
            changes: dict[str, Any] = {}
            if edit.name:
                changes["name"] = [track_row.name, edit.name]
                track_row.name = edit.name
            if edit.goal is not None:
                changes["goal"] = [track_row.goal, edit.goal]
                track_row.goal = edit.goal
            if edit.reparent:
                parent = resolve(edit.parent) if edit.parent else None
                changes["parent"] = [track_row.parent_track_id, parent]
                track_row.parent_track_id = parent
            if changes:
                track_row.updated_at = utcnow()
                session.add(track_row)
                self.journal(
                    session, "track_reorganized", "track", edit.id, reason=why, changes=changes
                )
            if edit.cancel:
                self.move_track(
                    session, edit.id, TrackStatus.CANCELLED, reason=f"merged away by {why}"
                )
        session.flush()
        joined: dict[str, list[str]] = {}
        left: dict[str, list[str]] = {}
        for change in plan.links:
            for target in change.add:
                track_id = resolve(target)
                if session.get(WOTrackRow, (change.wo_id, track_id)) is None:
                    session.add(WOTrackRow(wo_id=change.wo_id, track_id=track_id))
                    joined.setdefault(track_id, []).append(change.wo_id)
            for track_id in change.remove:
                link = session.get(WOTrackRow, (change.wo_id, track_id))
                if link is not None:
                    session.delete(link)
                    left.setdefault(track_id, []).append(change.wo_id)
        for track_id, wo_ids in sorted(joined.items()):
            self.journal(session, "track_assigned", "track", track_id, wo_ids=wo_ids, reason=why)
        for track_id, wo_ids in sorted(left.items()):
            self.journal(session, "track_unassigned", "track", track_id, wo_ids=wo_ids, reason=why)
        return ids


def _variant_copy(track_ids: list[str], variant_ids: set[str]) -> bool:
    """A WO that lives only in experiment variants: a variant's copy of the problem."""
    return bool(track_ids) and all(t in variant_ids for t in track_ids)
