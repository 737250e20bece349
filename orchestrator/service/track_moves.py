"""Track moves with rules beyond the lifecycle table, shared by the CLI and the dashboard:
resume (not of a ready track; not into the same dead end), complete (merging, only when
nothing is left), fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.domain.errors import OrchestratorError, ValidationError
from orchestrator.domain.lifecycle import TrackStatus, WOStatus

if TYPE_CHECKING:
    from orchestrator.domain.track import Track
    from orchestrator.store.contract import Store

_FAILED = frozenset({WOStatus.FAILED})


@dataclass(frozen=True)
class Resumed:
    track: Track
    #: WOs retried on the way (``retry_failed``).
    retried: list[str] = field(default_factory=list)


def check_resumable(store: Store, track_id: str, *, retry_failed: bool = False) -> list[str]:
    """Refuse a resume that cannot help; returns the failed WOs a resume should retry.

    A ready track is not resumed (that would activate it: `activate` is the command); a
    paused track whose only remaining work failed would block again at once, so without
    ``retry_failed`` the refusal says how to retry.
    """
    track = store.get_track(track_id)
    if track.status == TrackStatus.READY.value:
        raise ValidationError(
            f"track {track_id} is ready, not paused: the daemon activates it when a slot is "
            f"free, `orch track activate {track_id}` does it now"
        )
    failed = store.retryable_work_orders(track=track_id, statuses=_FAILED)
    if retry_failed or not failed or track.status != TrackStatus.PAUSED.value:
        return failed if retry_failed else []
    if _stuck(store, track_id):
        raise ValidationError(
            f"track {track_id} is blocked by {len(failed)} failed work orders "
            f"({', '.join(failed[:5])}): `orch track resume {track_id} --retry-failed` retries "
            "them (as does `orch wo retry`)"
        )
    return []


def _stuck(store: Store, track_id: str) -> bool:
    """Whether the paused track, once active, could start nothing (it would block again)."""
    from orchestrator.daemon.supervisor import stuck_reason

    work = store.track_work(statuses=(TrackStatus.PAUSED.value,))
    return any(w.track.id == track_id and stuck_reason(w) is not None for w in work)


def resume_track(
    store: Store, track_id: str, reason: str, *, retry_failed: bool = False
) -> Resumed:
    """``paused -> active``, retrying its failed WOs first when asked."""
    to_retry = check_resumable(store, track_id, retry_failed=retry_failed)
    retried: list[str] = []
    if to_retry:
        result = store.retry_work_orders(to_retry, reason=reason or "retried on resume")
        retried = result.retried
        if track_id in result.resumed_tracks:
            return Resumed(store.get_track(track_id), retried)
    row = store.set_track_status(track_id, TrackStatus.ACTIVE, reason=reason or "resumed")
    return Resumed(row, retried)


def complete_by_hand(store: Store, track_id: str, reason: str, log: Any) -> Track:
    """``active -> completed`` the way the daemon does it: merged into the base branch, and
    only when no WO is left undone and no sub-track still runs."""
    from orchestrator.daemon.merging import complete_track, completion_blocker

    if store.get_track(track_id).status != TrackStatus.ACTIVE.value:
        # The lifecycle's own one-line error for the illegal move.
        store.set_track_status(track_id, TrackStatus.COMPLETED, reason=reason)
    blocker = completion_blocker(store, track_id)
    if blocker is not None:
        raise ValidationError(f"cannot complete: {blocker}")
    status = complete_track(store, log, track_id, reason or "completed by hand")
    row = store.get_track(track_id)
    if status is not TrackStatus.COMPLETED:
        raise OrchestratorError(
            f"track {track_id} could not complete and is {row.status}: {row.blocked_reason}"
        )
    return row


def fail_track(store: Store, track_id: str, reason: str) -> Track:
    """Give a track up (an active one is paused first); the reason is required."""
    if not reason.strip():
        raise ValidationError("--reason must say why the track failed")
    return store.fail_track(track_id, reason.strip())
