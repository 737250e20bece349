"""Finishing a track: merge its branch into the base branch, then mark it completed.

The merge happens first and is idempotent (a branch already merged is not merged again), so a
kill between the merge and the status change is repaired by simply finishing again. A conflict
leaves the base branch untouched and blocks the track (paused, with the files named).
"""

from __future__ import annotations

from pathlib import Path

import anyio

from orchestrator.daemon.context import DaemonContext
from orchestrator.domain.errors import GitError, IllegalTransitionError, MergeConflictError
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.git.repo import GitRepo
from orchestrator.store.tables import TrackRow


def finish_track_sync(ctx: DaemonContext, track: TrackRow) -> TrackStatus:
    """Merge and complete ``track``; returns its new status (completed or paused)."""
    store = ctx.store
    current = store.get_track(track.id)
    if current.status != TrackStatus.ACTIVE.value:
        # Finished already (a track step and a dispatch round may both try): nothing to do.
        return TrackStatus(current.status)
    project = store.get_project(track.project_id)
    repo = GitRepo(project.path)
    if track.worktree_path and Path(track.worktree_path).exists():
        problem = repo.worktree_problem(track.worktree_path, track.branch)
        if problem is not None:
            reason = f"worktree integrity check failed: {problem}"
            store.set_track_status(
                track.id, TrackStatus.PAUSED, reason=reason, blocked_reason=reason
            )
            ctx.log.error("track_blocked", track_id=track.id, reason=reason)
            return TrackStatus.PAUSED
    try:
        if repo.is_merged(track.branch, project.base_branch):
            merged = repo.head(project.base_branch)
        else:
            merged = repo.merge_no_ff(
                project.base_branch,
                track.branch,
                f"Merge track {track.id}: {track.goal or track.name}",
            )
    except MergeConflictError as exc:
        reason = "merge conflict in: " + ", ".join(exc.files)
        store.set_track_status(track.id, TrackStatus.PAUSED, reason=reason, blocked_reason=reason)
        ctx.log.warning("track_blocked", track_id=track.id, reason=reason)
        return TrackStatus.PAUSED
    except GitError as exc:
        reason = f"merge failed: {exc}"
        store.set_track_status(track.id, TrackStatus.PAUSED, reason=reason, blocked_reason=reason)
        ctx.log.warning("track_blocked", track_id=track.id, reason=reason)
        return TrackStatus.PAUSED
    try:
        store.set_track_status(
            track.id, TrackStatus.COMPLETED, reason="all work orders done", merged_commit=merged
        )
    except IllegalTransitionError:
        # Completed by the other finisher between our check and here (the merge was a no-op).
        return TrackStatus(store.get_track(track.id).status)
    ctx.log.info("track_completed", track_id=track.id, merged_commit=merged)
    return TrackStatus.COMPLETED


async def finish_track(ctx: DaemonContext, track: TrackRow) -> TrackStatus:
    with anyio.CancelScope(shield=True):
        status = await anyio.to_thread.run_sync(finish_track_sync, ctx, track)
    return status
