"""Writing checkpoints: at every WO boundary and on every interruption.

The snapshot commit keeps everything in the worktree, uncommitted and untracked files too,
under ``refs/orchestrator/checkpoints/<track>/<n>``; the record (with its checksum) goes to
the DB after the ref exists, so a record never points at a snapshot that is not there.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import anyio

from orchestrator.daemon.exchange import publish
from orchestrator.domain.checkpoint import CheckpointRecord
from orchestrator.domain.errors import GitError
from orchestrator.git.names import checkpoint_ref
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store


def write_checkpoint_sync(
    store: Store,
    repo: GitRepo,
    track_id: str,
    worktree: Path,
    *,
    run_id: str | None,
    wo_id: str | None,
    attempt: int,
    session_id: str | None,
    cost_usd: float,
    reason: str,
) -> CheckpointRecord:
    head = snapshot_sha = ref = None
    if worktree.is_dir():
        try:
            head = repo.head("HEAD", worktree)
            # A clean worktree is fully described by its HEAD: no snapshot commit needed.
            if not repo.is_clean(worktree):
                ref = checkpoint_ref(track_id, store.next_checkpoint_number(track_id))
                snapshot_sha = repo.snapshot(worktree, ref, f"checkpoint {track_id}: {reason}")
        except GitError:
            # A checkpoint without a snapshot still records the session to resume.
            ref = snapshot_sha = None
    record = CheckpointRecord(
        track_id=track_id,
        run_id=run_id,
        wo_id=wo_id,
        attempt=attempt,
        session_id=session_id,
        head_sha=head,
        snapshot_ref=ref,
        snapshot_sha=snapshot_sha,
        cost_usd=cost_usd,
        reason=reason,
    )
    store.add_checkpoint(record)
    publish(store, repo, track_id, [ref] if ref is not None else [])
    return record


async def write_checkpoint(
    store: Store,
    repo: GitRepo,
    track_id: str,
    worktree: Path,
    **fields: Any,
) -> CheckpointRecord:
    """The same, off the event loop, and shielded: an interruption must not cut it short."""
    call = partial(write_checkpoint_sync, store, repo, track_id, worktree, **fields)
    with anyio.CancelScope(shield=True):
        record: CheckpointRecord = await anyio.to_thread.run_sync(call)
    return record
