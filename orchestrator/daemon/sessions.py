"""Driving one agent session for the daemon: retries, resumes, and recording as it streams.

The session id is committed to ``agent_runs`` the moment the CLI announces it (before any
tool runs), so a crash at any later point can resume the very same session. Cost and tokens
are committed as they stream, at most every few seconds, and exactly at the end.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from orchestrator.agents.events import (
    AgentEvent,
    RateLimitNotice,
    Result,
    SessionStarted,
    Usage,
)
from orchestrator.agents.limits import LimitName, Limits
from orchestrator.agents.prompts import system_prompt, user_prompt
from orchestrator.agents.protocol import AgentRun, SessionSpec, ToolHandler
from orchestrator.agents.runner import run_session
from orchestrator.daemon.context import DaemonContext
from orchestrator.domain.budget import MIN_SHARE_USD
from orchestrator.domain.errors import AgentLimitError, BudgetSpentError, RateLimitedError
from orchestrator.domain.parking import Park, ParkScope
from orchestrator.domain.roles import Role

#: What a CLI session id looks like (a UUID); anything else is never used in a path.
_SESSION_ID_RE = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")

#: Seconds between commits of a live run's streaming cost and tokens.
USAGE_COMMIT_INTERVAL_S = 2.0


@dataclass(frozen=True)
class AgentOutcome:
    session_id: str | None
    result: Result | None
    cost_usd: float
    interrupted: bool


#: The roles that decide (what runs where, in which order) rather than change code: they may
#: have a smaller model and fewer turns (``model.decision_model``, ``limits.decision_max_turns``).
DECISION_ROLES = frozenset({Role.GLOBAL, Role.PROJECT, Role.ORGANIZER})


def session_limits(ctx: DaemonContext, role: Role = Role.WORKER) -> Limits:
    limits = ctx.settings.limits
    turns = limits.max_turns
    if role in DECISION_ROLES:
        turns = min(turns, limits.decision_max_turns)
    return Limits(
        wall_clock_s=limits.run_wall_clock_s,
        idle_s=limits.idle_timeout_s,
        max_turns=turns,
        max_cost_usd=limits.max_cost_per_run_usd,
    )


def session_model(ctx: DaemonContext, role: Role) -> str | None:
    """The model a session of ``role`` runs on (None: the CLI's own choice)."""
    model = ctx.settings.model
    if role in DECISION_ROLES and model.decision_model:
        return model.decision_model
    return model.model or None


def make_spec(
    ctx: DaemonContext,
    run_id: str,
    role: Role,
    payload: dict[str, Any],
    cwd: Path,
    tools: ToolHandler,
    *,
    resume: str | None = None,
    prompt: str | None = None,
    labels: dict[str, str] | None = None,
) -> SessionSpec:
    return SessionSpec(
        role=role,
        system_prompt=system_prompt(role),
        user_prompt=prompt if prompt is not None else user_prompt(role, payload),
        cwd=cwd,
        tool_handler=tools,
        resume=resume,
        limits=session_limits(ctx, role),
        config_dir=ctx.config_dir(run_id),
        env=dict(ctx.session_env),
        model=session_model(ctx, role),
        session_store=ctx.store.session_store(),
        run_id=run_id,
        labels=dict(labels or {}),
        protected=protected_paths(ctx, cwd),
    )


def protected_paths(ctx: DaemonContext, cwd: Path) -> tuple[Path, ...]:
    """What a worker's sandboxed Bash must never write: the state (DB, logs, reports), the
    config, and the user's own checkout of the project."""
    home = ctx.settings.home
    paths = [ctx.settings.state_dir, home / "config"]
    common = cwd / ".git"
    if common.is_file():  # a worktree: its repository's checkout is the user's
        text = common.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            entry = Path(text.removeprefix("gitdir:").strip())
            paths.append(entry.parent.parent.parent)  # <checkout>/.git/worktrees/<name>
    return tuple(paths)


def carry_transcript(ctx: DaemonContext, session_id: str, config_dir: Path) -> bool:
    """Copy the CLI's own transcript of ``session_id`` into ``config_dir`` before a resume.

    Each run has its own CLAUDE_CONFIG_DIR, and the CLI resumes only from a transcript under
    its own: the newest copy (from the latest run of the session that has one) comes along.
    Our mirror in the SessionStore may lag behind it (the SDK writes it at each result, so a
    daemon killed mid-session left none); when the mirror has the session, the SDK resumes
    from the mirror instead. Returns whether a transcript was found.
    """
    if not _SESSION_ID_RE.fullmatch(session_id):
        return False
    root = ctx.settings.state_dir / "claude-config"
    for run_id in ctx.store.session_runs(session_id):
        found = sorted((root / run_id / "projects").glob(f"*/{session_id}.jsonl"))
        if not found:
            continue
        if (root / run_id).resolve() == config_dir.resolve():
            return True
        for source in found:
            target = config_dir / "projects" / source.parent.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return True
    return False


async def drive_session(ctx: DaemonContext, run_id: str, spec: SessionSpec) -> AgentOutcome:
    """Run ``spec`` to its end through the runtime's retry loop, recording as it streams.

    Transient failures are retried by resuming the session; a session the CLI cannot resume
    starts afresh with the same prompt. Raises the runtime's classified errors once retries
    are exhausted (see ``classify.error_class``). With a run budget the session may spend
    at most its share of what is left (``BudgetSpentError`` when that share is the limit
    it hit, or when nothing is left to share).
    """
    budget = ctx.budget
    if budget is None:
        return await _drive(ctx, run_id, spec)
    since = ctx.started_at
    spent = await anyio.to_thread.run_sync(lambda: ctx.store.cost_since(since)) if since else 0.0
    share = budget.grant(run_id, spent, worker=spec.role is Role.WORKER)
    try:
        if share < MIN_SHARE_USD:
            raise BudgetSpentError(f"the run's budget of ${budget.budget_usd:.2f} is spent")
        own = spec.limits.max_cost_usd
        by_share = own is None or share < own
        if by_share:
            spec = replace(spec, limits=replace(spec.limits, max_cost_usd=share))
        try:
            return await _drive(ctx, run_id, spec)
        except AgentLimitError as exc:
            if by_share and str(exc).startswith(LimitName.MAX_COST):
                raise BudgetSpentError(
                    f"this session's share (${share:.2f}) of the run's budget "
                    f"(${budget.budget_usd:.2f}) is spent: {exc}"
                ) from exc
            raise
    finally:
        # After the session's cost is committed: from now on it is in ``spent``.
        budget.release(run_id)


async def _drive(ctx: DaemonContext, run_id: str, spec: SessionSpec) -> AgentOutcome:
    store = ctx.store
    tokens = {"input": 0, "output": 0, "last_commit": time.monotonic()}
    seen_messages: set[str] = set()
    # Our estimate of what the session spent, for when it ends without an outcome.
    estimated = {"usd": 0.0}

    async def on_event(event: AgentEvent) -> None:
        fields: dict[str, Any] = {}
        if isinstance(event, SessionStarted):
            fields = {"session_id": event.session_id}
        elif isinstance(event, Usage):
            if event.message_id in seen_messages:
                return
            if event.message_id:
                seen_messages.add(event.message_id)
            tokens["input"] += event.input_tokens
            tokens["output"] += event.output_tokens
            estimated["usd"] += event.cost_usd or 0.0
            if time.monotonic() - tokens["last_commit"] > USAGE_COMMIT_INTERVAL_S:
                tokens["last_commit"] = time.monotonic()
                fields = {"input_tokens": tokens["input"], "output_tokens": tokens["output"]}
        elif isinstance(event, Result):
            fields = {
                "input_tokens": event.input_tokens
                + event.cache_read_tokens
                + event.cache_creation_tokens,
                "output_tokens": event.output_tokens,
                "turns": event.num_turns,
            }
        if fields:
            await anyio.to_thread.run_sync(partial(store.record_run, run_id, **fields))

    def on_attempt(run: AgentRun) -> None:
        ctx.live[run_id] = run

    async def on_park(delay_s: float, error: RateLimitedError) -> None:
        now = datetime.now(UTC)
        park = Park(
            ParkScope.SESSION,
            run_id,
            f"rate limited: {error}"[:500],
            now,
            until=now + timedelta(seconds=delay_s),
            delay_s=round(delay_s, 3),
            track_id=spec.labels.get("track_id"),
            wo_id=spec.labels.get("wo_id"),
        )
        await anyio.to_thread.run_sync(store.record_park, park)

    async def on_event_or_notice(event: AgentEvent) -> None:
        if isinstance(event, RateLimitNotice):
            await _hold_for(ctx, event)
        await on_event(event)

    try:
        outcome = await run_session(
            ctx.runtime,
            spec,
            on_event=on_event_or_notice,
            on_attempt=on_attempt,
            on_park=on_park,
        )
    except BaseException:
        # Cut off (a limit, an error, a stop): what it spent still counts against the
        # per-WO cap and the run's budget.
        if estimated["usd"] > 0:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    partial(store.record_run, run_id, cost_usd=estimated["usd"])
                )
        raise
    finally:
        ctx.live.pop(run_id, None)
    # The session's cost over all attempts (a resumed session's CLI total is cumulative; the
    # runtime counts each attempt once).
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(partial(store.record_run, run_id, cost_usd=outcome.cost_usd))
    return AgentOutcome(
        session_id=outcome.session_id,
        result=outcome.result,
        cost_usd=outcome.cost_usd,
        interrupted=outcome.interrupted,
    )


async def _hold_for(ctx: DaemonContext, notice: RateLimitNotice) -> None:
    """Near the usage limit (``allowed_warning``): no new session starts until the reset.

    Sessions already running go on; a ``rejected`` limit parks its session through the
    retry policy instead (``classify`` takes the reset time as the retry-after).
    """
    if notice.status != "allowed_warning" or notice.resets_at is None:
        return
    until = datetime.fromtimestamp(notice.resets_at, UTC)
    held = ctx.new_sessions_held_until
    if held is not None and held >= until:
        return
    ctx.new_sessions_held_until = until
    now = datetime.now(UTC)
    reason = f"usage limit near ({notice.limit_type or 'unknown window'}): no new sessions"
    park = Park(
        ParkScope.NEW_SESSIONS,
        ctx.daemon_id,
        reason,
        now,
        until=until,
        delay_s=round(max((until - now).total_seconds(), 0.0), 3),
    )
    ctx.log.warning("new_sessions_held", until=until.isoformat(), reason=reason)
    await anyio.to_thread.run_sync(ctx.store.record_park, park)
