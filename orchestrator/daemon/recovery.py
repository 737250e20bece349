"""Recovery: find interrupted work after a crash, repair worktrees, and plan the resumes.

Runs at every daemon start (before anything is dispatched) and as ``orch recover``. It never
runs while another daemon holds the lease. Each step is idempotent, so a recovery that is
itself killed is simply run again:

- runs still marked live from a dead daemon are *interrupted*; their CLI processes (marked
  with this home's owner id) are ended;
- a worker whose WO commit is already on the track branch is settled as done (exactly once:
  the commit's trailer names the WO), never run again;
- any other interrupted worker's WO goes back to ``ready``; the next dispatch resumes the
  recorded session with a recovery prompt (the SessionStore serves the transcript when the
  CLI's own file is gone);
- worktrees of live tracks are repaired: stale ``index.lock`` removed when no process holds
  it, registrations pruned, missing or half-created worktrees re-created from their branch,
  and the newest verified checkpoint snapshot restored into a re-created one;
- what an interrupted session left in its (repaired) worktree is kept as a checkpoint
  (reason ``recovered``): the dead daemon could not write one.

On a database several hosts share, a run belongs to its daemon while that daemon's lease
is live, and a track to the host holding its track lease: recovery leaves both alone. A
host taking a track over (``ownership``) recovers that one track, whoever ran it, and
rebuilds its worktree under its own home from the project's remote: the track branch as
pushed, and the newest checkpoint's snapshot fetched from its ref.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from orchestrator.agents.processes import end_process_tree, find_agent_processes
from orchestrator.daemon.checkpoints import write_checkpoint_sync
from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.worker_run import WO_TRAILER
from orchestrator.daemon.workspace import branch_start_point, worktree_path
from orchestrator.domain.errors import GitError, OrchestratorError
from orchestrator.domain.lifecycle import LIVE_TRACK_STATUSES, RunStatus, WOStatus
from orchestrator.domain.run import Run
from orchestrator.git.remote import fetch_branch, fetch_ref, take_remote_branch
from orchestrator.git.repo import GitRepo
from orchestrator.host_identity import ensure_host_id
from orchestrator.store.contract import Store


@dataclass(frozen=True)
class RecoveryAction:
    run_id: str
    track: str | None
    wo: str | None
    session_id: str | None
    action: str


def find_wo_commit(repo: GitRepo, branch: str, base: str, wo_id: str) -> str | None:
    """The commit on ``branch`` (since ``base``) whose trailer names ``wo_id``, if any."""
    if not repo.branch_exists(branch):
        return None
    return _commit_naming(repo, f"{base}..{branch}", wo_id)


def _commit_naming(repo: GitRepo, revisions: str, wo_id: str) -> str | None:
    result = repo.git("log", "-z", "--format=%H%n%B", revisions, check=False)
    for entry in result.stdout.split("\0"):
        sha, _, message = entry.strip().partition("\n")
        if f"{WO_TRAILER}: {wo_id}" in message.splitlines():
            return sha
    return None


def interrupted_runs(
    store: Store, current_daemon: str | None, *, whoever_ran: bool = False
) -> list[Run]:
    """Runs marked live that no living daemon owns (with ``whoever_ran``: every run but
    ``current_daemon``'s, for a track taken from a host that lost it)."""
    live = set() if whoever_ran else store.live_daemons()
    return [
        r for r in store.live_runs() if r.daemon_id != current_daemon and r.daemon_id not in live
    ]


def abandoned_decisions(store: Store, current_daemon: str | None) -> list[Run]:
    """Decision runs (no track) left live by another daemon whose lease is dead: no
    takeover settles them, as they belong to no track's lease. A one-shot command's runs
    (``orch organize``: no lease) are left to it."""
    dead = store.dead_daemons() - {current_daemon}
    return [r for r in store.live_runs() if r.track_id is None and r.daemon_id in dead]


def settle_abandoned_decisions(store: Store, current_daemon: str | None) -> list[str]:
    """Mark interrupted what :func:`abandoned_decisions` finds; returns their run ids."""
    runs = abandoned_decisions(store, current_daemon)
    for run in runs:
        settle_run(store, run)
    return [r.id for r in runs]


def wo_commit_of(store: Store, run: Run) -> str | None:
    """The commit settling ``run``'s WO on its track branch, if any: the local branch, or
    the remote's (a host that took the track over sees what its previous host pushed)."""
    track = store.get_track(run.track_id or "")
    project = store.get_project(track.project_id)
    repo, wo_id = GitRepo(project.path), run.wo_id or ""
    found = find_wo_commit(repo, track.branch, project.base_branch, wo_id)
    if found is None and project.remote:
        try:
            tip = fetch_branch(repo, project.remote, track.branch)
        except GitError:
            return None  # the remote unreachable: the WO runs again rather than twice wrong
        if tip is not None:
            found = _commit_naming(repo, f"{project.base_branch}..{tip}", wo_id)
    return found


def plan_run(store: Store, run: Run) -> RecoveryAction:
    action = "mark interrupted"
    if run.wo_id is not None and run.track_id is not None:
        track = store.get_track(run.track_id)
        commit = wo_commit_of(store, run)
        if commit is not None:
            action = f"mark done (commit {commit[:12]} is on {track.branch})"
        elif run.session_id:
            action = f"resume session {run.session_id}"
        else:
            action = "restart work order (no session started)"
    return RecoveryAction(run.id, run.track_id, run.wo_id, run.session_id, action)


def settle_run(store: Store, run: Run) -> RecoveryAction:
    """Apply the plan for one interrupted run (idempotent: a settled run is not live)."""
    planned = plan_run(store, run)
    if run.wo_id is None:
        store.finish_run(run.id, RunStatus.INTERRUPTED, error="daemon stopped")
    elif planned.action.startswith("mark done"):
        commit = wo_commit_of(store, run)
        store.finish_run(
            run.id,
            RunStatus.SUCCEEDED,
            summary="settled by recovery",
            wo_status=WOStatus.DONE,
            wo_fields={"done_commit": commit},
        )
    else:
        store.finish_run(
            run.id,
            RunStatus.INTERRUPTED,
            error="the daemon stopped during this session (crash, kill or power loss)",
            wo_status=WOStatus.READY,
            wo_fields={"attempts": max(run.attempt - 1, 0)},
        )
    return planned


def checkpoint_recovered(store: Store, run: Run) -> None:
    """Keep what a crashed worker session left in its (repaired) worktree as a checkpoint:
    the daemon could not write one when it died. Reason ``recovered``."""
    if run.track_id is None or run.wo_id is None:
        return
    track = store.get_track(run.track_id)
    if not track.worktree_path or not Path(track.worktree_path).is_dir():
        return
    project = store.get_project(track.project_id)
    write_checkpoint_sync(
        store,
        GitRepo(project.path),
        track.id,
        Path(track.worktree_path),
        run_id=run.id,
        wo_id=run.wo_id,
        attempt=run.attempt,
        session_id=run.session_id,
        cost_usd=run.cost_usd,
        reason="recovered",
    )


def repair_worktrees(
    store: Store,
    workspaces: Path,
    log: Any,
    only: set[str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Bring every live track's worktree (those in ``only``, if given; none in ``skip``,
    other hosts' tracks) back to "exists under this home, on its branch"; report what was
    done. Without ``only``, a track whose worktree is another home's is left to its host."""
    notes: list[str] = []
    for track in store.list_tracks():
        if track["status"] not in {s.value for s in LIVE_TRACK_STATUSES}:
            continue
        if (only is not None and track["id"] not in only) or track["id"] in skip:
            continue
        project = store.get_project(track["project"])
        repo = GitRepo(project.path)
        path = worktree_path(workspaces, project.id, track["id"])
        if only is None and track["worktree"] and Path(track["worktree"]) != path:
            continue
        try:
            missing = not path.is_dir()
            if not missing and repo.clear_stale_index_lock(path):
                notes.append(f"{track['id']}: removed stale index.lock")
            repo.prune()
            start = branch_start_point(store, track["id"], project.base_branch)
            if missing and project.remote:
                # Another host may have worked it: start from what it pushed.
                take_remote_branch(repo, project.remote, track["branch"])
            repo.ensure_worktree(path, track["branch"], start)
            if missing:
                notes.append(f"{track['id']}: re-created missing worktree from its branch")
                notes.extend(_restore_snapshot(store, repo, track["id"], path, project.remote))
            if track["worktree"] != str(path):
                store.update_track(track["id"], worktree_path=str(path))
        except GitError as exc:
            notes.append(f"{track['id']}: worktree repair failed: {exc}")
            log.error("worktree_repair_failed", track_id=track["id"], error=str(exc))
    return notes


def _restore_snapshot(
    store: Store, repo: GitRepo, track_id: str, path: Path, remote: str = ""
) -> list[str]:
    good, corrupt = store.latest_good_checkpoint(track_id)
    notes = [
        f"{track_id}: checkpoint {c.id} is corrupt (checksum mismatch), skipped" for c in corrupt
    ]
    if good is not None and good.snapshot_sha and remote and good.snapshot_ref:
        # Written by another host: its snapshot is here once fetched from the remote.
        with contextlib.suppress(GitError):
            fetch_ref(repo, remote, good.snapshot_ref)
        if not repo.has_commit(good.snapshot_sha):
            notes.append(f"{track_id}: checkpoint {good.id}'s snapshot is not on the remote")
            return notes
    if good is not None and good.snapshot_sha:
        if good.head_sha and good.head_sha != repo.head("HEAD", path):
            notes.append(f"{track_id}: checkpoint {good.id} is from an older HEAD, not restored")
        else:
            repo.restore_snapshot(path, good.snapshot_sha)
            notes.append(f"{track_id}: restored uncommitted work from checkpoint {good.id}")
    return notes


def leased_elsewhere(ctx: DaemonContext) -> frozenset[str]:
    """Tracks another host holds a track lease on (this home's host id is ``host-id``)."""
    host = ensure_host_id(ctx.settings)
    return frozenset(x.track_id for x in ctx.store.track_leases() if x.host_id != host)


async def end_orphans(owner: str, log: Any) -> list[int]:
    """End CLI process trees a dead daemon of this home left behind."""
    orphans = await anyio.to_thread.run_sync(lambda: find_agent_processes(owner))
    pids = await end_process_tree(orphans) if orphans else []
    if pids:
        log.warning("orphans_ended", pids=pids)
    return pids


async def recover(
    ctx: DaemonContext,
    *,
    only_run: str | None = None,
    only_track: str | None = None,
    whoever_ran: bool = False,
) -> list[dict[str, Any]]:
    """Recover everything (or one run / one track); returns the actions taken. Tracks
    another host holds are left to it. ``whoever_ran`` (with ``only_track``, a track taken
    over): its runs are settled even if their daemon still looks alive."""
    store = ctx.store
    await end_orphans(ctx.settings.owner_id, ctx.log)
    runs = await anyio.to_thread.run_sync(
        lambda: interrupted_runs(store, ctx.daemon_id, whoever_ran=whoever_ran)
    )
    elsewhere = await anyio.to_thread.run_sync(lambda: leased_elsewhere(ctx))
    if only_track is not None:
        elsewhere -= {only_track}  # the caller holds it (ownership.adopt)
    actions = []
    settled: list[Run] = []
    for run in runs:
        if (only_run and run.id != only_run) or (only_track and run.track_id != only_track):
            continue
        if run.track_id in elsewhere:
            continue
        try:
            action = await anyio.to_thread.run_sync(settle_run, store, run)
        except OrchestratorError as exc:
            ctx.log.error("recover_run_failed", run_id=run.id, error=str(exc))
            continue
        ctx.log.info("run_recovered", run_id=run.id, action=action.action)
        actions.append(asdict(action))
        if not action.action.startswith("mark done"):
            settled.append(run)
    # `--run` / `--track` recover just that one: other tracks' worktrees are left alone.
    only: set[str] | None = None
    if only_track is not None:
        only = {only_track}
    elif only_run is not None:
        picked = await anyio.to_thread.run_sync(store.get_run, only_run)
        only = {picked.track_id} if picked.track_id else set()
    notes = await anyio.to_thread.run_sync(
        lambda: repair_worktrees(store, ctx.settings.workspaces_dir, ctx.log, only, elsewhere)
    )
    for note in notes:
        ctx.log.info("worktree_repaired", note=note)
    for run in settled:
        try:
            await anyio.to_thread.run_sync(checkpoint_recovered, store, run)
        except OrchestratorError as exc:
            ctx.log.error("recover_checkpoint_failed", run_id=run.id, error=str(exc))
    await anyio.to_thread.run_sync(store.release_orphaned_claims)
    return actions
