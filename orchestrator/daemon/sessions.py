"""Driving one agent session for the daemon: retries, resumes, and recording as it streams.

The session id is committed to ``agent_runs`` the moment the CLI announces it (before any
tool runs), so a crash at any later point can resume the very same session. Cost and tokens
are committed as they stream, at most every few seconds, and exactly at the end.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from orchestrator.agents.events import Result, SessionStarted, Usage
from orchestrator.agents.limits import Limits
from orchestrator.agents.prompts import continue_prompt, system_prompt, user_prompt
from orchestrator.agents.protocol import SessionSpec, ToolHandler
from orchestrator.agents.retry import AttemptInfo, retrying
from orchestrator.daemon.context import DaemonContext
from orchestrator.domain.roles import Role
from orchestrator.store.session_store import SQLiteSessionStore

#: Seconds between commits of a live run's streaming cost and tokens.
USAGE_COMMIT_INTERVAL_S = 2.0


@dataclass(frozen=True)
class AgentOutcome:
    session_id: str | None
    result: Result | None
    cost_usd: float
    interrupted: bool


def session_limits(ctx: DaemonContext) -> Limits:
    limits = ctx.settings.limits
    return Limits(
        wall_clock_s=limits.run_wall_clock_s,
        idle_s=limits.idle_timeout_s,
        max_turns=limits.max_turns,
        max_cost_usd=limits.max_cost_per_run_usd,
    )


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
        limits=session_limits(ctx),
        config_dir=ctx.config_dir(run_id),
        env=dict(ctx.session_env),
        model=ctx.settings.model.model or None,
        session_store=SQLiteSessionStore(ctx.store.engine),
        run_id=run_id,
        labels=dict(labels or {}),
    )


async def drive_session(ctx: DaemonContext, run_id: str, spec: SessionSpec) -> AgentOutcome:
    """Run ``spec`` to its end, retrying transient failures by resuming the session.

    Raises the runtime's classified errors once retries are exhausted (RateLimitedError
    after the park cap, TransientAgentError, AgentLimitError, AgentError).
    """
    state: dict[str, Any] = {"session_id": spec.resume, "cost": 0.0}

    async def attempt(info: AttemptInfo) -> AgentOutcome:
        this = spec
        if info.number > 1 and state["session_id"]:
            this = dataclasses.replace(
                spec, resume=state["session_id"], user_prompt=continue_prompt()
            )
        return await _one_attempt(ctx, run_id, this, state)

    return await retrying(attempt, log=ctx.log)


async def _one_attempt(
    ctx: DaemonContext, run_id: str, spec: SessionSpec, state: dict[str, Any]
) -> AgentOutcome:
    store = ctx.store
    last_commit = time.monotonic()
    seen_messages: set[str] = set()
    tokens = {"input": 0, "output": 0}
    # The running estimate of this attempt's cost until its Result brings the CLI's figure:
    # committed with the tokens, so budgets see the spend of live and of cut-off sessions.
    estimated_usd, settled = 0.0, False
    async with ctx.runtime.run(spec) as run:
        ctx.live[run_id] = run
        try:
            async for event in run:
                fields: dict[str, Any] = {}
                if isinstance(event, SessionStarted):
                    state["session_id"] = event.session_id
                    fields = {"session_id": event.session_id}
                elif isinstance(event, Usage):
                    if event.message_id and event.message_id in seen_messages:
                        continue
                    if event.message_id:
                        seen_messages.add(event.message_id)
                    tokens["input"] += event.input_tokens
                    tokens["output"] += event.output_tokens
                    estimated_usd += event.cost_usd or 0.0
                    if time.monotonic() - last_commit > USAGE_COMMIT_INTERVAL_S:
                        last_commit = time.monotonic()
                        fields = {
                            "input_tokens": tokens["input"],
                            "output_tokens": tokens["output"],
                            "cost_usd": float(state["cost"]) + estimated_usd,
                        }
                elif isinstance(event, Result):
                    settled = True
                    state["cost"] = float(state["cost"]) + event.cost_usd
                    fields = {
                        "cost_usd": state["cost"],
                        "input_tokens": event.input_tokens
                        + event.cache_read_tokens
                        + event.cache_creation_tokens,
                        "output_tokens": event.output_tokens,
                        "turns": event.num_turns,
                    }
                if fields:
                    await anyio.to_thread.run_sync(partial(store.record_run, run_id, **fields))
        finally:
            ctx.live.pop(run_id, None)
            if not settled and estimated_usd > 0:
                # Cut off before its Result (limit, interrupt, crash): keep what it spent.
                spent = float(state["cost"]) + estimated_usd
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(
                        partial(
                            store.record_run,
                            run_id,
                            cost_usd=spent,
                            input_tokens=tokens["input"],
                            output_tokens=tokens["output"],
                        )
                    )
        return AgentOutcome(
            session_id=run.session_id or state["session_id"],
            result=run.result,
            cost_usd=float(state["cost"]),
            interrupted=run.interrupted,
        )
