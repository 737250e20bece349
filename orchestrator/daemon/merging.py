"""Finishing a track: merge its branch into the base branch, then mark it completed.

The merge happens first and is idempotent (a branch already merged is not merged again), so a
kill between the merge and the status change is repaired by simply finishing again. A conflict
leaves the base branch untouched and blocks the track (paused, with the files named). A
parent track finishes after its sub-tracks. Before a retried WO starts, the other direction:
the base branch is merged into the track branch (``take_base``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.exchange import merge_base
from orchestrator.domain.errors import GitError, IllegalTransitionError, MergeConflictError
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.track import Track
from orchestrator.git.remote import take_remote_branch
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store
from orchestrator.store.planning import UNFINISHED

#: Sub-track statuses that keep a parent from finishing: still offered, running or blocked.
OPEN_SUBTRACK_STATUSES = frozenset({TrackStatus.READY, TrackStatus.ACTIVE, TrackStatus.PAUSED})


def open_subtracks(store: Store, track_id: str) -> list[str]:
    """Sub-tracks of ``track_id`` that may still change the code (the parent waits for them)."""
    subs = store.subtracks(track_id)
    return sorted(s for s, status in subs.items() if status in OPEN_SUBTRACK_STATUSES)


def completion_blocker(store: Store, track_id: str) -> str | None:
    """Why ``track_id`` cannot be completed now, or None when it can."""
    unfinished = [
        w["id"] for w in store.list_work_orders(track=track_id) if w["status"] in UNFINISHED
    ]
    if unfinished:
        shown = ", ".join(unfinished[:5]) + (" ..." if len(unfinished) > 5 else "")
        return (
            f"track {track_id} has {len(unfinished)} unfinished work orders ({shown}): finish "
            "or cancel them first"
        )
    running = open_subtracks(store, track_id)
    if running:
        return f"track {track_id} waits on its sub-tracks {', '.join(running)}"
    return None


def complete_track(store: Store, log: Any, track_id: str, reason: str) -> TrackStatus:
    """Merge ``track_id``'s branch into the base and mark it completed; its new status.

    A track that is not active is left as it is; one that cannot complete yet (see
    ``completion_blocker``) stays active; a conflict pauses it with the files named.
    """
    track = store.get_track(track_id)
    if track.status != TrackStatus.ACTIVE.value:
        # Finished already (a track step and a dispatch round may both try): nothing to do.
        return TrackStatus(track.status)
    if completion_blocker(store, track_id) is not None:
        return TrackStatus.ACTIVE
    project = store.get_project(track.project_id)
    repo = GitRepo(project.path)
    if track.worktree_path and Path(track.worktree_path).exists():
        problem = repo.worktree_problem(track.worktree_path, track.branch)
        if problem is not None:
            return _block(store, log, track.id, f"worktree integrity check failed: {problem}")
    try:
        if not project.remote and repo.is_merged(track.branch, project.base_branch):
            merged = repo.head(project.base_branch)
        else:
            merged = merge_base(
                store,
                repo,
                project.id,
                project.base_branch,
                track.branch,
                f"Merge track {track.id}: {track.goal or track.name}",
            )
    except MergeConflictError as exc:
        return _block(store, log, track.id, "merge conflict in: " + ", ".join(exc.files))
    except GitError as exc:
        return _block(store, log, track.id, f"merge failed: {exc}")
    try:
        store.set_track_status(track.id, TrackStatus.COMPLETED, reason=reason, merged_commit=merged)
    except IllegalTransitionError:
        # Completed by the other finisher between our check and here (the merge was a no-op).
        return TrackStatus(store.get_track(track.id).status)
    log.info("track_completed", track_id=track.id, merged_commit=merged)
    return TrackStatus.COMPLETED


def _block(store: Store, log: Any, track_id: str, reason: str) -> TrackStatus:
    store.set_track_status(track_id, TrackStatus.PAUSED, reason=reason, blocked_reason=reason)
    log.warning("track_blocked", track_id=track_id, reason=reason)
    return TrackStatus.PAUSED


def take_base(store: Store, log: Any, track_id: str) -> str | None:
    """Merge the base branch's new commits into the track branch (never a force).

    Called before a retried WO starts, so that it runs on the fix made on the base. Returns
    None when the branch is up to date (or was brought up to date), else the reason the
    track is now blocked (a conflict names the files). An experiment's variant keeps its
    recorded base commit: the variants must be compared on the same code.
    """
    track = store.get_track(track_id)
    if track.experiment:
        return None
    project = store.get_project(track.project_id)
    repo = GitRepo(project.path)
    base = project.base_branch
    if track.worktree_path and Path(track.worktree_path).exists():
        problem = repo.worktree_problem(track.worktree_path, track.branch)
        if problem is not None:
            reason = f"worktree integrity check failed: {problem}"
            _block(store, log, track.id, reason)
            return reason
    try:
        if project.remote:
            # The base other hosts merged into lives on the remote.
            take_remote_branch(repo, project.remote, base)
        if repo.is_merged(base, track.branch):
            return None
        merged = repo.merge_no_ff(
            track.branch, base, f"Merge {base} into track {track.id} (before a retry)"
        )
    except MergeConflictError as exc:
        reason = (
            f"the base branch {base} conflicts with {track.branch} in: {', '.join(exc.files)} "
            f"(merge {base} into {track.branch} by hand, then `orch track resume {track.id}`)"
        )
    except GitError as exc:
        reason = f"could not merge {base} into {track.branch}: {exc}"
    else:
        log.info("base_merged", track_id=track.id, base=base, commit=merged)
        return None
    _block(store, log, track.id, reason)
    return reason


def finish_track_sync(ctx: DaemonContext, track: Track) -> TrackStatus:
    """Merge and complete ``track``; returns its new status (completed, paused or active)."""
    return complete_track(ctx.store, ctx.log, track.id, "all work orders done")


async def finish_track(ctx: DaemonContext, track: Track) -> TrackStatus:
    with anyio.CancelScope(shield=True):
        status = await anyio.to_thread.run_sync(finish_track_sync, ctx, track)
    return status
