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
"""

from __future__ import annotations

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
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store
from orchestrator.store.tables import AgentRunRow


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
    result = repo.git("log", "-z", "--format=%H%n%B", f"{base}..{branch}", check=False)
    for entry in result.stdout.split("\0"):
        sha, _, message = entry.strip().partition("\n")
        if f"{WO_TRAILER}: {wo_id}" in message.splitlines():
            return sha
    return None


def interrupted_runs(store: Store, current_daemon: str | None) -> list[AgentRunRow]:
    """Runs marked live that no living daemon owns."""
    return [r for r in store.live_runs() if r.daemon_id != current_daemon]


def plan_run(store: Store, run: AgentRunRow) -> RecoveryAction:
    action = "mark interrupted"
    if run.wo_id is not None and run.track_id is not None:
        track = store.get_track(run.track_id)
        project = store.get_project(track.project_id)
        commit = find_wo_commit(GitRepo(project.path), track.branch, project.base_branch, run.wo_id)
        if commit is not None:
            action = f"mark done (commit {commit[:12]} is on {track.branch})"
        elif run.session_id:
            action = f"resume session {run.session_id}"
        else:
            action = "restart work order (no session started)"
    return RecoveryAction(run.id, run.track_id, run.wo_id, run.session_id, action)


def settle_run(store: Store, run: AgentRunRow) -> RecoveryAction:
    """Apply the plan for one interrupted run (idempotent: a settled run is not live)."""
    planned = plan_run(store, run)
    if run.wo_id is None:
        store.finish_run(run.id, RunStatus.INTERRUPTED, error="daemon stopped")
    elif planned.action.startswith("mark done"):
        track = store.get_track(run.track_id or "")
        project = store.get_project(track.project_id)
        commit = find_wo_commit(GitRepo(project.path), track.branch, project.base_branch, run.wo_id)
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


def checkpoint_recovered(store: Store, run: AgentRunRow) -> None:
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
    store: Store, workspaces: Path, log: Any, only: set[str] | None = None
) -> list[str]:
    """Bring every live track's worktree (those in ``only``, if given) back to "exists, on its
    branch"; report what was done."""
    notes: list[str] = []
    for track in store.list_tracks():
        if track["status"] not in {s.value for s in LIVE_TRACK_STATUSES}:
            continue
        if only is not None and track["id"] not in only:
            continue
        project = store.get_project(track["project"])
        repo = GitRepo(project.path)
        path = Path(track["worktree"] or worktree_path(workspaces, project.id, track["id"]))
        try:
            missing = not path.is_dir()
            if not missing and repo.clear_stale_index_lock(path):
                notes.append(f"{track['id']}: removed stale index.lock")
            repo.prune()
            start = branch_start_point(store, track["id"], project.base_branch)
            repo.ensure_worktree(path, track["branch"], start)
            if missing:
                notes.append(f"{track['id']}: re-created missing worktree from its branch")
                notes.extend(_restore_snapshot(store, repo, track["id"], path))
            if track["worktree"] != str(path):
                store.update_track(track["id"], worktree_path=str(path))
        except GitError as exc:
            notes.append(f"{track['id']}: worktree repair failed: {exc}")
            log.error("worktree_repair_failed", track_id=track["id"], error=str(exc))
    return notes


def _restore_snapshot(store: Store, repo: GitRepo, track_id: str, path: Path) -> list[str]:
    good, corrupt = store.latest_good_checkpoint(track_id)
    notes = [
        f"{track_id}: checkpoint {c.id} is corrupt (checksum mismatch), skipped" for c in corrupt
    ]
    if good is not None and good.snapshot_sha:
        if good.head_sha and good.head_sha != repo.head("HEAD", path):
            notes.append(f"{track_id}: checkpoint {good.id} is from an older HEAD, not restored")
        else:
            repo.restore_snapshot(path, good.snapshot_sha)
            notes.append(f"{track_id}: restored uncommitted work from checkpoint {good.id}")
    return notes


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
) -> list[dict[str, Any]]:
    """Recover everything (or one run / one track); returns the actions taken."""
    store = ctx.store
    await end_orphans(ctx.settings.owner_id, ctx.log)
    runs = await anyio.to_thread.run_sync(lambda: interrupted_runs(store, ctx.daemon_id))
    actions = []
    settled: list[AgentRunRow] = []
    for run in runs:
        if (only_run and run.id != only_run) or (only_track and run.track_id != only_track):
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
        lambda: repair_worktrees(store, ctx.settings.workspaces_dir, ctx.log, only)
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
