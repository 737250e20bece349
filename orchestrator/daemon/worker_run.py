"""Carrying out one work order in its track's worktree.

Order of effects for a WO (write-ahead):

1. claim: WO ``ready -> running`` and its run row, in one transaction;
2. checkpoint ``wo_start`` (unless the previous WO's ``wo_done`` checkpoint already records
   this state); the worker session runs (session id committed on arrival);
3. the project's check runs in the worktree;
4. the work is committed on the track branch as ``WO-…: title`` (with an
   ``Orchestrator-WO`` trailer);
5. WO ``running -> done`` and the run ``succeeded``, in one transaction; checkpoint (its
   record finishes beside the next WO's claim, unless it is pushed to a remote).

A kill between 4 and 5 leaves a WO ``running`` whose commit is on the branch: recovery sees
the trailer and marks it done instead of running it again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestrator.agents.classify import ErrorClass, error_class
from orchestrator.agents.limits import LimitName
from orchestrator.agents.prompts import recovery_prompt
from orchestrator.agents.protocol import ToolReply
from orchestrator.daemon.checkpoints import write_checkpoint, write_checkpoint_beside
from orchestrator.daemon.checks import command_policy, run_check
from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.sessions import carry_transcript, drive_session, make_spec
from orchestrator.domain.errors import AgentError, WorktreeIntegrityError
from orchestrator.domain.lifecycle import RunStatus, TrackStatus, WOStatus
from orchestrator.domain.redaction import redact
from orchestrator.domain.roles import Role
from orchestrator.domain.run import Run
from orchestrator.domain.track import Track
from orchestrator.domain.transcript import summarize_transcript
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store

#: The commit trailer that ties a commit to its WO (recovery looks for it).
WO_TRAILER = "Orchestrator-WO"


def commit_message(wo_id: str, title: str, run_id: str) -> str:
    # Redacted: the history is pushed and kept; a secret in a title must not reach it.
    return redact(f"{wo_id}: {title}\n\n{WO_TRAILER}: {wo_id}\nOrchestrator-Run: {run_id}\n")


@dataclass
class WorkerTools:
    """The worker's one tool: ``report_result``. The first report counts."""

    report: dict[str, Any] | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        if tool != "report_result":
            return ToolReply(False, f"unknown tool {tool}")
        self.reports.append(args)
        if self.report is None:
            self.report = args
            return ToolReply(True, "result recorded; end your turn now")
        return ToolReply(True, "a result was already recorded for this work order; end now")


@dataclass(frozen=True)
class WorkerOutcome:
    wo_id: str
    status: WOStatus
    run_id: str
    error: str | None = None


def worker_payload(
    wo: Any, track: Track, worktree: Path, check: str, attempt: int, previous: str | None
) -> dict[str, Any]:
    return {
        "kind": "work_order",
        "wo": {
            "id": wo.id,
            "title": wo.title,
            "goal": wo.goal,
            "context": list(wo.context),
            "acceptance_criteria": list(wo.acceptance_criteria),
            "non_goals": list(wo.non_goals),
            "notes": wo.body,
        },
        "track": {"id": track.id, "name": track.name, "goal": track.goal},
        "worktree": str(worktree),
        "check_command": check,
        "attempt": attempt,
        "previous_failure": previous,
        "recovery": None,
        # An experiment's variant: the hypothesis this copy of the WO is to follow.
        "experiment": (
            {"id": track.experiment, "variant": track.id, "hypothesis": track.hypothesis or ""}
            if track.experiment
            else None
        ),
    }


async def run_work_order(ctx: DaemonContext, track: Track, wo_id: str) -> WorkerOutcome:
    """Claim ``wo_id`` for ``track`` and carry it through to done, retry, or failed."""
    store = ctx.store
    project = await anyio.to_thread.run_sync(lambda: store.get_project(track.project_id))
    repo = GitRepo(project.path)
    worktree = Path(track.worktree_path or "")
    resumable = await anyio.to_thread.run_sync(lambda: store.resumable_run(wo_id))
    # From the claim until the session's own cancel handling takes over, a stop must not
    # cut in: the claimed run would be left live (it is delivered at the session instead).
    with anyio.CancelScope(shield=True):
        run = await anyio.to_thread.run_sync(
            lambda: store.claim_work_order(
                wo_id, track.id, ctx.daemon_id, resumed_from=resumable.id if resumable else None
            )
        )
        row, wo, _tracks = await anyio.to_thread.run_sync(lambda: store.get_work_order(wo_id))
        log = ctx.log.bind(run_id=run.id, track_id=track.id, wo_id=wo_id)
        # Skipped when the previous WO's done checkpoint already records this very state.
        await _checkpoint(store, repo, worktree, run, "wo_start", unless_unchanged=True)
        cap = ctx.settings.limits.max_cost_per_wo_usd
        spent = await anyio.to_thread.run_sync(lambda: store.wo_cost(wo_id))
        if cap > 0 and spent >= cap:
            why = f"cost cap of ${cap:.2f} per work order reached (${spent:.2f} spent)"
            return await _failed_attempt(ctx, repo, worktree, run, wo_id, why, final=True)
        tools = WorkerTools()
        payload = worker_payload(
            wo, track, worktree, project.check_command, run.attempt, row.last_error
        )
        resume_id, prompt = None, None
        if resumable is not None and resumable.session_id:
            resume_id = resumable.session_id
            state = await anyio.to_thread.run_sync(lambda: _worktree_state(repo, worktree))
            # The summary rides along so that, should the CLI be unable to resume the session,
            # the fresh session the runtime starts instead (same prompt) knows what was done.
            entries = await anyio.to_thread.run_sync(store.session_entries, resume_id)
            summary = summarize_transcript(entries)
            payload["recovery"] = {
                "resumed_from": resumable.id,
                "worktree": state,
                "previous_session_summary": summary,
            }
            what = resumable.error or "the daemon stopped during this session"
            prompt = recovery_prompt(
                f"{what}. Earlier in this session you did:\n{summary}", state, payload
            )
        spec = make_spec(
            ctx,
            run.id,
            Role.WORKER,
            payload,
            worktree,
            tools,
            resume=resume_id,
            prompt=prompt,
            labels={"track_id": track.id, "wo_id": wo_id},
        )
        if resume_id is not None:
            # Mirrored under another worktree's key if another host ran it (a takeover).
            await anyio.to_thread.run_sync(store.carry_session, resume_id, worktree)
        if resume_id is not None and spec.config_dir is not None:
            await anyio.to_thread.run_sync(carry_transcript, ctx, resume_id, spec.config_dir)
        # This attempt may spend at most what is left of the WO's cap; when that remainder is
        # the tighter limit, hitting it means the WO's cap is reached (no retry).
        per_run = spec.limits.max_cost_usd
        capped_by_wo = cap > 0 and (per_run is None or cap - spent <= per_run)
        if capped_by_wo:
            limits = dataclasses.replace(spec.limits, max_cost_usd=cap - spent)
            spec = dataclasses.replace(spec, limits=limits)
        # The track's budget (the global agent's set_track_budget) caps it the same way.
        track_left = await anyio.to_thread.run_sync(_track_budget_left, store, track)
        current = spec.limits.max_cost_usd
        capped_by_track = track_left is not None and (current is None or track_left < current)
        if capped_by_track and track_left is not None:
            limits = dataclasses.replace(spec.limits, max_cost_usd=max(track_left, 0.0))
            spec = dataclasses.replace(spec, limits=limits)
            capped_by_wo = False
    session_id: str | None = resume_id
    cost = 0.0
    try:
        try:
            outcome = await drive_session(ctx, run.id, spec)
            session_id, cost = outcome.session_id, outcome.cost_usd
        except AgentError as exc:
            kind = error_class(exc)
            if kind is ErrorClass.RATE_LIMIT:
                # Parked past the cap: the work goes back in line, it does not fail.
                return await _requeue(ctx, run, wo_id, f"rate limited: {exc}")
            if kind in (ErrorClass.AUTH, ErrorClass.UNREACHABLE):
                # No session can work: the WO goes back in line untouched and the run parks.
                await _interrupt(ctx, repo, worktree, track, run, wo_id, None, 0.0, str(exc))
                raise
            if kind is ErrorClass.BUDGET:
                # The run's (or the track's) money ran out, not the work: back in line,
                # attempt not counted; a later run resumes the session.
                log.info("wo_budget_spent", error=str(exc))
                return await _interrupt(ctx, repo, worktree, track, run, wo_id, None, 0.0, str(exc))
            if kind is ErrorClass.OVERLOADED:
                # An outage outlasted the retries: parked the same way (checkpoint, back in
                # line, attempt not counted); the next dispatch resumes the session.
                why = f"the model is unavailable: {exc}"
                return await _interrupt(ctx, repo, worktree, track, run, wo_id, None, 0.0, why)
            if capped_by_track and str(exc).startswith(LimitName.MAX_COST):
                why = f"the track's budget of ${track.budget_usd or 0:.2f} is spent: {exc}"
                return await _interrupt(ctx, repo, worktree, track, run, wo_id, None, 0.0, why)
            at_cap = capped_by_wo and str(exc).startswith(LimitName.MAX_COST)
            why = f"agent error: {type(exc).__name__}: {exc}"
            if at_cap:
                why = f"cost cap of ${cap:.2f} per work order reached: {exc}"
            return await _failed_attempt(ctx, repo, worktree, run, wo_id, why, final=at_cap)
        if outcome.interrupted:
            return await _interrupt(
                ctx, repo, worktree, track, run, wo_id, session_id, cost, "session interrupted"
            )
        report = tools.report
        if report is None or report.get("status") != "done":
            why = (
                "no report_result call"
                if report is None
                else (f"worker reported {report.get('status')}: {report.get('summary', '')}")
            )
            return await _failed_attempt(ctx, repo, worktree, run, wo_id, why)
        check = await run_check(
            project.check_command,
            worktree,
            ctx.settings.limits.check_timeout_s,
            command_policy(ctx.settings),
        )
        if not check.passed:
            return await _failed_attempt(
                ctx,
                repo,
                worktree,
                run,
                wo_id,
                f"check `{project.check_command}` failed:\n{check.output_tail}",
            )
        with anyio.CancelScope(shield=True):
            try:
                sha = await anyio.to_thread.run_sync(
                    # Empty when the work needed no file change: the commit is still the WO's
                    # record on the branch (recovery and the one-commit-per-WO check read it).
                    # branch=: the worktree's integrity is checked right before the commit.
                    lambda: repo.commit_all(
                        worktree,
                        commit_message(wo_id, wo.title, run.id),
                        allow_empty=True,
                        branch=track.branch,
                    )
                )
            except WorktreeIntegrityError as exc:
                return await _tampered_worktree(ctx, track, run, wo_id, str(exc))
            if sha is None:
                sha = await anyio.to_thread.run_sync(lambda: repo.head("HEAD", worktree))
            await anyio.to_thread.run_sync(
                lambda: store.finish_run(
                    run.id,
                    RunStatus.SUCCEEDED,
                    summary=str(report.get("summary", ""))[:2000],
                    wo_status=WOStatus.DONE,
                    wo_fields={"done_commit": sha, "last_error": None},
                )
            )
            # Everything was just committed as sha: the checkpoint needs no git, and its
            # record finishes beside the next WO's claim (whose own checkpoint waits for it).
            # Not with a remote: the push must land before the track's merge pushes the
            # branch too, or another host takes the track over from the remote's branch.
            await write_checkpoint_beside(
                None if project.remote else ctx.aside,
                store,
                repo,
                run.track_id or "",
                worktree,
                run_id=run.id,
                wo_id=run.wo_id,
                attempt=run.attempt,
                session_id=session_id,
                cost_usd=cost,
                reason="wo_done",
                committed=sha,
            )
        log.info("wo_done", commit=sha)
        return WorkerOutcome(wo_id, WOStatus.DONE, run.id)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await _interrupt(
                ctx,
                repo,
                worktree,
                track,
                run,
                wo_id,
                session_id,
                cost,
                ctx.stop_reason or "daemon stopping",
            )
        raise


async def _checkpoint(
    store: Store,
    repo: GitRepo,
    worktree: Path,
    run: Run,
    reason: str,
    *,
    session_id: str | None = None,
    cost_usd: float = 0.0,
    unless_unchanged: bool = False,
) -> None:
    """A checkpoint of a worker run's track at one of its boundaries."""
    await write_checkpoint(
        store,
        repo,
        run.track_id or "",
        worktree,
        run_id=run.id,
        wo_id=run.wo_id,
        attempt=run.attempt,
        session_id=session_id,
        cost_usd=cost_usd,
        reason=reason,
        unless_unchanged=unless_unchanged,
    )


def _track_budget_left(store: Store, track: Track) -> float | None:
    """What the track may still spend, when the global agent gave it a budget."""
    if track.budget_usd is None:
        return None
    work = store.track_work(track_id=track.id)
    spent = work[0].cost_usd if work else 0.0
    return track.budget_usd - spent


def _worktree_state(repo: GitRepo, worktree: Path) -> str:
    if not worktree.is_dir():
        return "the worktree directory is missing"
    head = repo.head("HEAD", worktree)
    dirty = repo.status_paths(worktree)
    files = ", ".join(dirty[:20]) + (" ..." if len(dirty) > 20 else "")
    return f"HEAD {head[:12]}; uncommitted: {files or 'none'}"


async def _interrupt(
    ctx: DaemonContext,
    repo: GitRepo,
    worktree: Path,
    track: Track,
    run: Run,
    wo_id: str,
    session_id: str | None,
    cost: float,
    why: str,
) -> WorkerOutcome:
    """Checkpoint, mark the run interrupted (resumable) and put the WO back in line."""
    # A session cut off by a stop never returned its outcome: the run row has what the
    # stream committed (session id on arrival, cost so far).
    current = await anyio.to_thread.run_sync(lambda: ctx.store.get_run(run.id))
    session_id = session_id or current.session_id
    cost = max(cost, current.cost_usd)
    await _checkpoint(
        ctx.store, repo, worktree, run, "interrupted", session_id=session_id, cost_usd=cost
    )
    return await _requeue(ctx, run, wo_id, why)


async def _requeue(ctx: DaemonContext, run: Run, wo_id: str, why: str) -> WorkerOutcome:
    """The run ends interrupted (resumable) and the WO goes back in line, attempt not counted."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(
            lambda: ctx.store.finish_run(
                run.id,
                RunStatus.INTERRUPTED,
                error=why,
                wo_status=WOStatus.READY,
                wo_fields={"attempts": max(run.attempt - 1, 0)},
            )
        )
    return WorkerOutcome(wo_id, WOStatus.READY, run.id, why)


async def _tampered_worktree(
    ctx: DaemonContext, track: Track, run: Run, wo_id: str, problem: str
) -> WorkerOutcome:
    """The worktree is not the track's any more: nothing is committed, snapshotted or reset
    there (each would act on whatever it now points at); the WO fails, the track is blocked."""
    why = f"worktree integrity check failed: {problem}"
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(
            lambda: ctx.store.finish_run(
                run.id, RunStatus.FAILED, error=why, wo_status=WOStatus.FAILED
            )
        )
        await anyio.to_thread.run_sync(
            lambda: ctx.store.set_track_status(
                track.id, TrackStatus.PAUSED, reason=why, blocked_reason=why
            )
        )
    ctx.log.error("worktree_tampered", run_id=run.id, wo_id=wo_id, track_id=track.id, error=why)
    return WorkerOutcome(wo_id, WOStatus.FAILED, run.id, why)


async def _failed_attempt(
    ctx: DaemonContext,
    repo: GitRepo,
    worktree: Path,
    run: Run,
    wo_id: str,
    why: str,
    *,
    final: bool = False,
) -> WorkerOutcome:
    """Retry (the failure goes into the next prompt) or, out of attempts, fail the WO."""
    final = final or run.attempt >= ctx.settings.limits.max_attempts
    status = WOStatus.FAILED if final else WOStatus.READY
    with anyio.CancelScope(shield=True):
        if final and worktree.is_dir():
            # Keep the failed attempt's files in a checkpoint, then leave a clean worktree for
            # the track's next WO.
            await _checkpoint(ctx.store, repo, worktree, run, "wo_failed")
            await anyio.to_thread.run_sync(repo.discard_changes, worktree)
        await anyio.to_thread.run_sync(
            lambda: ctx.store.finish_run(run.id, RunStatus.FAILED, error=why, wo_status=status)
        )
    ctx.log.warning("wo_attempt_failed", run_id=run.id, wo_id=wo_id, final=final, error=why[:500])
    return WorkerOutcome(wo_id, status, run.id, why)
