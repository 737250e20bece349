"""``run_session``: one logical session with retries, resuming by session id between attempts."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import anyio
import structlog

from .classify import ResumeNotFoundError
from .events import AgentEvent, Result, SessionStarted, Usage
from .prompts import continue_prompt
from .protocol import AgentRun, AgentRuntime, SessionSpec
from .retry import DEFAULT_RETRY_POLICY, AttemptInfo, ParkCallback, RetryPolicy, retrying

_log = structlog.get_logger(__name__)

EventCallback = Callable[[AgentEvent], Awaitable[None]]


@dataclass(frozen=True)
class SessionOutcome:
    """How a session ended after all its attempts. ``result`` is None only when the
    caller interrupted it before the CLI reported one."""

    result: Result | None
    session_id: str | None
    attempts: int
    #: Over all attempts: the CLI's figure where an attempt reported one, else our estimate
    #: (a ``Result.cost_usd`` of a resumed session is cumulative; this is not double counted).
    cost_usd: float
    interrupted: bool


async def run_session(
    runtime: AgentRuntime,
    spec: SessionSpec,
    *,
    on_event: EventCallback | None = None,
    on_attempt: Callable[[AgentRun], None] | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    resume_prompt: str | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    rng: random.Random | None = None,
    on_park: ParkCallback | None = None,
) -> SessionOutcome:
    """Run ``spec`` until it succeeds, retrying transient failures through ``retrying``.

    After a failed attempt that obtained a session id, the next attempt resumes that
    session with ``resume_prompt`` (default ``prompts.continue_prompt()``), so the work
    done so far is kept; when the CLI no longer has the transcript it starts afresh with
    the original prompt. ``on_event`` sees every event of every attempt (persist the
    ``SessionStarted`` id at once); ``on_attempt`` gets each attempt's handle, e.g. to
    ``interrupt()`` it; ``on_park`` is awaited before each rate-limit park. Errors are those
    of ``AgentRun`` after the policy gave up.
    """
    log = _log.bind(run_id=spec.run_id, role=spec.role.value, **dict(spec.labels))
    session_id = spec.resume
    attempts = 0
    cost = 0.0
    # The CLI's total_cost_usd is cumulative over a resumed session (it restores the total
    # from the transcript), so an attempt's own cost is its total minus the last total seen.
    session_totals: dict[str, float] = {}
    prompt_after_failure = resume_prompt or continue_prompt()

    async def one(attempt_spec: SessionSpec) -> AgentRun:
        nonlocal session_id, attempts, cost
        attempts += 1
        estimate = 0.0
        run = runtime.run(attempt_spec)
        try:
            async with run:
                if on_attempt is not None:
                    on_attempt(run)
                async for event in run:
                    if isinstance(event, SessionStarted):
                        session_id = event.session_id
                    elif isinstance(event, Usage):
                        estimate += event.cost_usd or 0.0
                    if on_event is not None:
                        await on_event(event)
        finally:
            result = run.result
            if result is None:
                cost += estimate
            else:
                cost += max(result.cost_usd - session_totals.get(result.session_id, 0.0), 0.0)
                session_totals[result.session_id] = result.cost_usd
        return run

    async def attempt(info: AttemptInfo) -> AgentRun:
        nonlocal session_id
        attempt_spec = spec
        if info.number > 1 and session_id is not None:
            attempt_spec = replace(spec, resume=session_id, user_prompt=prompt_after_failure)
        try:
            return await one(attempt_spec)
        except ResumeNotFoundError:
            if attempt_spec.resume is None:
                raise
            log.warning("agent_resume_not_found", session_id=attempt_spec.resume)
            session_id = None
            return await one(replace(spec, resume=None))

    run = await retrying(attempt, policy=policy, sleep=sleep, rng=rng, log=log, on_park=on_park)
    return SessionOutcome(
        result=run.result,
        session_id=run.session_id or session_id,
        attempts=attempts,
        cost_usd=cost,
        interrupted=run.interrupted,
    )
