"""Evaluating one variant: the experiment's command, N times, in the variant's worktree.

The command runs through ``checks.run_command``, the runner of the project's check, so it
is confined exactly as the check is. Each run is recorded as it ends (unique per variant,
attempt and run index); a resumed evaluation (after a stop or a crash) runs only the runs
its attempt still lacks. An attempt belongs to one HEAD: if the variant's branch moved, the
evaluation starts a new attempt. The first run without a score disqualifies the variant,
with the reason; never a silent score.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import anyio

from orchestrator.agents.processes import marker_env
from orchestrator.daemon.checks import command_policy, run_command
from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.workspace import ensure_track_worktree
from orchestrator.domain.errors import IllegalTransitionError
from orchestrator.domain.experiment import EvalRun, Experiment, VariantStatus
from orchestrator.domain.experiment_decision import parse_score, spread
from orchestrator.git.repo import GitRepo


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


async def one_run(
    ctx: DaemonContext,
    experiment: Experiment,
    track_id: str,
    worktree: Path,
    attempt: int,
    index: int,
    head: str,
) -> EvalRun:
    """Run the evaluation once and read its score (or why there is none)."""
    started = time.monotonic()
    # Marked like an agent's processes, so a recovery after a crash ends a leftover run.
    marker = marker_env(ctx.settings.owner_id, f"eval-{track_id}-{attempt}-{index}")
    result = await run_command(
        experiment.eval_command,
        worktree,
        experiment.eval_timeout_s,
        env_extra=marker,
        policy=command_policy(ctx.settings),
    )
    elapsed = time.monotonic() - started
    output = (result.stdout + ("\n" + result.stderr if result.stderr else ""))[-4000:]
    score, error = None, None
    if result.timed_out:
        error = f"timed out after {experiment.eval_timeout_s:g}s"
    elif result.exit_code != 0:
        said = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
        error = f"exited with status {result.exit_code}: {said}"
    else:
        reading = parse_score(result.stdout, experiment.metric)
        score, error = reading.score, reading.error
    return EvalRun(
        track_id=track_id,
        attempt=attempt,
        index=index,
        head_sha=head,
        exit_code=result.exit_code,
        score=score,
        error=error,
        output_tail=output,
        duration_s=round(elapsed, 3),
        timed_out=result.timed_out,
    )


async def evaluate_variant(ctx: DaemonContext, experiment: Experiment, track_id: str) -> None:
    """Evaluate ``track_id`` to a score or a disqualification (resuming its attempt)."""
    store = ctx.store
    log = ctx.log.bind(track_id=track_id, experiment=experiment.id)
    track = await anyio.to_thread.run_sync(store.get_track, track_id)
    project = await anyio.to_thread.run_sync(store.get_project, track.project_id)
    repo = GitRepo(project.path)
    worktree = await anyio.to_thread.run_sync(
        ensure_track_worktree, store, ctx.settings.workspaces_dir, track
    )
    head = await anyio.to_thread.run_sync(lambda: repo.head("HEAD", worktree))
    files, added, deleted = await anyio.to_thread.run_sync(
        lambda: repo.diff_numstat(experiment.base_commit, head)
    )
    cost, tokens = await anyio.to_thread.run_sync(store.variant_usage, track_id)
    began = track.started_at or track.created_at
    if began.tzinfo is None:
        began = began.replace(tzinfo=UTC)
    duration = (datetime.now(UTC) - began).total_seconds()
    try:
        attempt = await anyio.to_thread.run_sync(
            lambda: store.start_evaluation(
                track_id,
                head,
                files_changed=files,
                lines_added=added,
                lines_deleted=deleted,
                cost_usd=cost,
                tokens=tokens,
                duration_s=round(duration, 1),
            )
        )
    except IllegalTransitionError:
        return  # cancelled or settled meanwhile
    current = await anyio.to_thread.run_sync(store.get_experiment, experiment.id)
    variant = current.variant(track_id)
    if variant.status is not VariantStatus.EVALUATING:
        return
    recorded = {r.index: r for r in variant.runs if r.attempt == attempt}
    scores: list[float] = []
    for index in range(1, experiment.eval_runs + 1):
        run = recorded.get(index)
        if run is None:
            run = await one_run(ctx, experiment, track_id, worktree, attempt, index, head)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.record_eval_run, experiment.id, run)
            log.info("eval_run", attempt=attempt, index=index, score=run.score, error=run.error)
        if run.score is None:
            reason = f"evaluation run {index} of {experiment.eval_runs}: {run.error}"
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    partial(store.disqualify_variant, track_id, reason, check_passed=True)
                )
            log.warning("variant_disqualified", reason=reason)
            return
        scores.append(run.score)
    summary = spread(scores)
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(
            lambda: store.score_variant(track_id, summary.median, summary.low, summary.high)
        )
    log.info("variant_scored", median=summary.median, low=summary.low, high=summary.high)
