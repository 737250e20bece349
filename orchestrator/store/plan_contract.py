"""The planning part of the store contract: what the global and project agents and the
organizer read and decide (track work, queues, directives, progress, proposals).
``SQLiteStore`` implements it (``planning``, ``proposals``).

The rules of the whole store hold (``store.contract``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from orchestrator.domain.dispatch import Directive
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.organization import OrganizeMode, OrgState, ProposalRecord
from orchestrator.store.planning import TrackWork
from orchestrator.store.proposals import ApplyResult


@runtime_checkable
class PlanningStore(Protocol):
    def track_work(
        self,
        statuses: tuple[str, ...] = (TrackStatus.ACTIVE.value,),
        shown: int = 1,
        track_id: str | None = None,
    ) -> list[TrackWork]:
        """Per track in ``statuses`` (or the one track ``track_id``): its first ``shown``
        startable WOs (all dependencies done), counts and cost."""
        ...

    def startable_among(self, track_id: str, wo_ids: list[str]) -> set[str]:
        """Those of ``wo_ids`` that can start in the track now (status and dependencies)."""
        ...

    def ready_track_ids(self) -> list[str]:
        """Tracks offered to the daemon (``ready``) that have work, most important first."""
        ...

    def set_queue(self, track_id: str, wo_ids: list[str], run_id: str | None = None) -> None:
        """The project agent's ordered choice of a track's next WOs (advisory: the claim
        decides). Journal: ``track_queue``."""
        ...

    def add_directive(
        self,
        weights: dict[str, float],
        reason: str,
        run_id: str | None = None,
        budgets: dict[str, float] | None = None,
    ) -> Directive:
        """Store the global agent's directive and apply its weights/budgets to the tracks."""
        ...

    def latest_directive(self) -> Directive | None:
        """The newest directive, if any."""
        ...

    def note_progress(self, track_id: str, run_id: str | None, report: dict[str, Any]) -> None:
        """A project agent's progress report: journaled; a blocked reason is kept."""
        ...


@runtime_checkable
class ProposalStore(Protocol):
    def org_state(self, project: str) -> OrgState:
        """The project's tracks and WOs (with live-track assignments) in one snapshot."""
        ...

    def new_wo_counts(self) -> dict[str, int]:
        """WOs created per project since its last organization (the auto trigger)."""
        ...

    def consume_new_wos(self, project: str, count: int) -> None:
        """The organizer has seen ``count`` new WOs; later ones keep counting."""
        ...

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
        """Store a pending proposal; older pending ones of the project become stale."""
        ...

    def get_proposal(self, proposal_id: int) -> ProposalRecord:
        """The proposal, or ``NotFoundError``."""
        ...

    def list_proposals(
        self, project: str | None = None, status: str | None = None
    ) -> list[ProposalRecord]:
        """Proposals (of ``project``, with ``status``), oldest first."""
        ...

    def refresh_stale(self, project: str | None = None) -> list[int]:
        """Mark pending proposals made against an older state stale; returns their ids."""
        ...

    def reject_proposal(self, proposal_id: int, reason: str = "") -> ProposalRecord:
        """Reject a proposal that was not applied; it is kept for the record."""
        ...

    def apply_proposal(self, proposal_id: int, *, auto: bool = False) -> ApplyResult:
        """Apply a pending proposal in one transaction (tracks created, WOs assigned), or
        mark it stale when the state moved since it was made (see ``ApplyResult``)."""
        ...
