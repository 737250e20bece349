"""The state changes the CLI and the dashboard both offer: review decisions, track moves,
experiment decisions. Each validates, commits, and returns what happened; printing is the
caller's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.organization import ProposalRecord, ProposalStatus

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.domain.experiment import Experiment
    from orchestrator.domain.track import Track
    from orchestrator.store.contract import Store
    from orchestrator.store.proposals import ApplyResult


def approve_proposal(store: Store, proposal_id: int) -> ApplyResult:
    """Apply a pending proposal in one transaction; a stale or decided one is refused."""
    row = store.get_proposal(proposal_id)
    if row.status == ProposalStatus.PENDING.value:
        result = store.apply_proposal(proposal_id)
        if not result.stale:
            return result
    elif row.status != ProposalStatus.STALE.value:
        raise ValidationError(f"proposal {proposal_id} is already {row.status}")
    raise ValidationError(
        f"proposal {proposal_id} is stale (the project changed since it was made): re-run "
        f"`orch organize --project {row.project_id}`"
    )


def reject_proposal(store: Store, proposal_id: int, reason: str = "") -> ProposalRecord:
    """Reject a proposal; it is kept for the record."""
    return store.reject_proposal(proposal_id, reason)


def move_track(
    store: Store, settings: Settings, track_id: str, target: TrackStatus, reason: str
) -> Track:
    """One lifecycle move of a track; activation creates its worktree, archiving removes it,
    completing merges it, and a resume follows the rules of ``track_moves``."""
    from orchestrator.service import track_moves

    status = store.get_track(track_id).status
    if target is TrackStatus.ACTIVE and status == "ready":
        from orchestrator.daemon.workspace import activate_track

        return activate_track(store, settings.workspaces_dir, track_id, reason)
    if target is TrackStatus.ACTIVE:
        return track_moves.resume_track(store, track_id, reason).track
    if target is TrackStatus.COMPLETED:
        import structlog

        log = structlog.get_logger("orchestrator.service").bind(track_id=track_id)
        return track_moves.complete_by_hand(store, track_id, reason, log)
    if target is TrackStatus.FAILED:
        return track_moves.fail_track(store, track_id, reason)
    if target is TrackStatus.ARCHIVED:
        from orchestrator.daemon.workspace import archive_track

        return archive_track(store, track_id, reason)
    return store.set_track_status(track_id, target, reason=reason)


@dataclass(frozen=True)
class Decision:
    """A manual experiment decision: the winner, and the experiment after landing it (None
    when a running daemon lands it)."""

    experiment_id: str
    winner: str
    landed: Experiment | None


def decide_experiment(
    store: Store,
    settings: Settings,
    experiment_id: str,
    winner: str | None,
    reason: str,
    log: Any,
) -> Decision:
    """Decide a deciding experiment; without a daemon running, land the winner at once."""
    from orchestrator.daemon.experiment_landing import land
    from orchestrator.domain.experiment import ExperimentStatus
    from orchestrator.domain.experiment_decision import decide as rule

    experiment = store.get_experiment(experiment_id)
    if experiment.status is not ExperimentStatus.DECIDING:
        raise ValidationError(
            f"experiment {experiment.id} is {experiment.status.value}: it can be decided "
            "once every variant is evaluated (status deciding)"
        )
    verdict = rule(experiment.variants, experiment.direction, experiment.metric)
    if winner is None:
        if verdict.winner is None:
            raise ValidationError(f"experiment {experiment.id} has no scored variant to pick")
        winner = verdict.winner
        why = reason or f"accepted the rule's pick: {verdict.reason}"
    else:
        experiment.variant(winner)  # a clear error for a track that is no variant
        why = reason or "chosen by hand"
    store.decide_experiment(experiment.id, winner, "manual", why, verdict.close_call)
    if store.lease_is_live(store.current_lease()):
        return Decision(experiment.id, winner, None)
    return Decision(experiment.id, winner, land(store, settings, experiment.id, log))
