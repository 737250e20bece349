"""Writing checkpoints: at every WO boundary and on every interruption.

The snapshot commit keeps everything in the worktree, uncommitted and untracked files too,
under ``refs/orchestrator/checkpoints/<track>/<n>``; the record (with its checksum) goes to
the DB after the ref exists, so a record never points at a snapshot that is not there.

Per WO boundary this costs little git: HEAD and cleanliness come from one ``git status``, a
checkpoint right after the WO's commit asks git nothing, and a WO's start checkpoint that
would repeat the previous WO's done checkpoint is not written at all. The done checkpoint
(its record; not a push to a remote) finishes beside the next WO's claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup

from orchestrator.daemon.exchange import publish
from orchestrator.domain.checkpoint import CheckpointRecord
from orchestrator.domain.errors import GitError, OrchestratorError
from orchestrator.git.names import checkpoint_ref
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store

_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Clean:
    """A clean checkpoint this process wrote: HEAD, the record's id, whether it was pushed."""

    head: str
    checkpoint_id: int
    pushed: bool


#: Per (track, worktree), the newest checkpoint this process wrote when it was of a clean
#: worktree. A WO's start checkpoint right after the previous WO's done checkpoint would
#: record the very same state (and push nothing new): with the same HEAD, a clean worktree,
#: the push done and that record still the track's newest, it is not written again.
_LAST_CLEAN: dict[tuple[str, Path], _Clean] = {}


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
    committed: str | None = None,
    unless_unchanged: bool = False,
) -> CheckpointRecord | None:
    """Record (and push) the worktree's state; the record, None when it was not written.

    ``committed``: the caller has just committed everything in the worktree (``add -A``)
    as this sha, so HEAD is known and nothing is left to snapshot: git is not asked.
    ``unless_unchanged``: nothing is written when the track's newest checkpoint, written by
    this process, already describes this state (same HEAD, clean, pushed).
    """
    head = snapshot_sha = ref = None
    clean = False
    if committed is not None:
        head, clean = committed, True
    elif worktree.is_dir():
        try:
            head, clean = repo.head_and_clean(worktree)
            # A clean worktree is fully described by its HEAD: no snapshot commit needed.
            if not clean:
                ref = checkpoint_ref(track_id, store.next_checkpoint_number(track_id))
                snapshot_sha = repo.snapshot(worktree, ref, f"checkpoint {track_id}: {reason}")
        except GitError:
            # A checkpoint without a snapshot still records the session to resume.
            ref = snapshot_sha = None
    key = (track_id, worktree.resolve())
    last = _LAST_CLEAN.get(key)
    if (
        unless_unchanged
        and clean
        and last is not None
        and last.head == head
        and last.pushed
        and store.last_checkpoint_id(track_id) == last.checkpoint_id
    ):
        return None
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
    row = store.add_checkpoint(record)
    pushed = publish(store, repo, track_id, [ref] if ref is not None else [])
    if clean and head is not None and row.id is not None:
        _LAST_CLEAN[key] = _Clean(head, row.id, pushed)
    else:
        _LAST_CLEAN.pop(key, None)
    return record


async def write_checkpoint(
    store: Store,
    repo: GitRepo,
    track_id: str,
    worktree: Path,
    **fields: Any,
) -> CheckpointRecord | None:
    """The same, off the event loop, and shielded: an interruption must not cut it short.
    A checkpoint of the track still being written beside (``write_checkpoint_beside``)
    goes first: checkpoints of a track are numbered, and the skip compares with the last."""
    call = partial(write_checkpoint_sync, store, repo, track_id, worktree, **fields)
    with anyio.CancelScope(shield=True):
        await _settled((track_id, worktree.resolve()))
        record: CheckpointRecord | None = await anyio.to_thread.run_sync(call)
    return record


#: Checkpoints being written beside what their caller does next, per (track, worktree).
_BESIDE: dict[tuple[str, Path], anyio.Event] = {}


async def _settled(key: tuple[str, Path]) -> None:
    pending = _BESIDE.get(key)
    if pending is not None:
        await pending.wait()


async def write_checkpoint_beside(
    aside: TaskGroup | None,
    store: Store,
    repo: GitRepo,
    track_id: str,
    worktree: Path,
    **fields: Any,
) -> None:
    """``write_checkpoint`` finishing in ``aside`` (the run's task group) while the caller
    goes on, e.g. a WO's done checkpoint beside the next WO's claim; inline without one.

    Only for a checkpoint nothing waits on but the track's next one: the WO's commit and
    its ``done`` are already stored when it starts, so a kill before it ends loses only
    the record. Not for one that pushes to a remote: the track's merge and another host
    taking the track over read the branch there."""
    if aside is None:
        await write_checkpoint(store, repo, track_id, worktree, **fields)
        return
    key = (track_id, worktree.resolve())
    with anyio.CancelScope(shield=True):
        await _settled(key)
    done = anyio.Event()
    _BESIDE[key] = done
    call = partial(write_checkpoint_sync, store, repo, track_id, worktree, **fields)

    async def write() -> None:
        # Shielded from its first statement: a stop cancels the run's task group, which
        # still waits for this to end before the run (and its store) closes.
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(call)
            except OrchestratorError as exc:
                _log.warning("checkpoint_failed", track_id=track_id, error=str(exc))
            finally:
                if _BESIDE.get(key) is done:
                    del _BESIDE[key]
                done.set()

    aside.start_soon(write)
