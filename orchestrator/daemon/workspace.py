"""Track worktrees: where they live, creating them on activation, removing them on archive.

Order of effects (write-ahead): the worktree is made first (idempotent, repaired if half
made), then the status change that announces it is committed. A kill in between leaves a
``ready`` track with a worktree, which the next activation simply reuses.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.track import Track
from orchestrator.git.names import checkpoint_ref
from orchestrator.git.remote import take_remote_branch
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store


def worktree_path(workspaces: Path, project: str, track_id: str) -> Path:
    """``workspaces/<project>/<track-slug>``: both parts are validated slugs."""
    return workspaces / project / track_id


def activate_track(store: Store, workspaces: Path, track_id: str, reason: str) -> Track:
    """Create the track's worktree (and branch) and move the track ``ready -> active``."""
    track = store.get_track(track_id)
    if track.status != TrackStatus.READY.value:
        # Let the lifecycle produce the one clear error for the illegal move.
        return store.set_track_status(track_id, TrackStatus.ACTIVE, reason=reason)
    path = ensure_track_worktree(store, workspaces, track)
    return store.set_track_status(
        track_id, TrackStatus.ACTIVE, reason=reason, worktree_path=str(path)
    )


def ensure_track_worktree(store: Store, workspaces: Path, track: Track) -> Path:
    project = store.get_project(track.project_id)
    path = worktree_path(workspaces, project.id, track.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = branch_start_point(store, track.id, project.base_branch)
    repo = GitRepo(project.path)
    if project.remote:
        # Another host may have worked this track: start from what it pushed.
        take_remote_branch(repo, project.remote, track.branch)
    repo.ensure_worktree(path, track.branch, start)
    return path


def branch_start_point(store: Store, track_id: str, base_branch: str) -> str:
    """Where a track's branch is cut when it does not exist yet: the base branch's tip, or
    for an experiment's variant the one base commit recorded when the experiment started
    (so every variant starts from the same code, whenever it is activated or re-created)."""
    experiment = store.experiment_of_track(track_id)
    return experiment.base_commit if experiment is not None else base_branch


def activate_variant(store: Store, workspaces: Path, track_id: str) -> Track:
    """A variant's track ``draft -> ready -> active`` with its worktree, in one transaction
    after the worktree exists (so it is never seen ``ready`` without one)."""
    track = store.get_track(track_id)
    path = ensure_track_worktree(store, workspaces, track)
    return store.activate_variant_track(track_id, str(path))


def archive_track(store: Store, track_id: str, reason: str) -> Track:
    """Move ``completed -> archived``; the worktree goes (snapshotted first), the branch stays."""
    track = store.get_track(track_id)
    if track.status == TrackStatus.COMPLETED.value and track.worktree_path:
        project = store.get_project(track.project_id)
        repo = GitRepo(project.path)
        if repo.find_worktree(track.worktree_path) is not None:
            # Checkpoints count from 1: number 0 keeps what the worktree held when archived.
            repo.remove_worktree(track.worktree_path, snapshot_ref=checkpoint_ref(track.id, 0))
    return store.set_track_status(track_id, TrackStatus.ARCHIVED, reason=reason, worktree_path=None)
