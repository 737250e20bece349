"""The one retry helper: tenacity around a whole session attempt.

Transient failures (5xx, 529, cut streams, a CLI that died) are retried with exponential
backoff and jitter, stopped by an explicit count and a total backoff budget. A rate limit
*parks* instead: the helper sleeps until the reset time the server gave (or a default
park), plus jitter, without counting a failure; each park and all of them are capped.
When a cap is reached the last error is re-raised unchanged, so a caller can still tell
a parked rate limit (put the work back in the queue) from a failure (fail the work).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from orchestrator.domain.errors import AgentError, RateLimitedError, TransientAgentError

T = TypeVar("T")
ParkCallback = Callable[[float, RateLimitedError], Awaitable[None]]
_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    #: Attempts that may fail transiently in all (rate-limit parks are not counted).
    max_attempts: int = 5
    #: Sum of the backoff sleeps between transient failures.
    max_backoff_total_s: float = 900.0
    initial_backoff_s: float = 2.0
    max_backoff_s: float = 120.0
    #: Uniform extra delay in [0, jitter_s), so parallel sessions do not retry in step.
    jitter_s: float = 1.0
    #: Park length when the rate limit did not say when it resets.
    default_park_s: float = 60.0
    #: Longest single park, and the cap on all parks of one call.
    max_park_s: float = 3600.0
    max_park_total_s: float = 4 * 3600.0


DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclass(frozen=True)
class AttemptInfo:
    """What the attempt function knows about the attempts before it."""

    number: int
    failures: int
    parks: int
    last_error: AgentError | None


class _Budget:
    """Per-call counters; tenacity asks ``wait`` then ``stop`` after each failed attempt."""

    def __init__(self, policy: RetryPolicy, rng: random.Random, log: Any) -> None:
        self.policy = policy
        self.rng = rng
        self.log = log
        self.failures = 0
        self.parks = 0
        self.backoff_total = 0.0
        self.park_total = 0.0
        self.last_error: AgentError | None = None
        #: The rate limit the coming sleep parks for (None for a backoff).
        self.parking: RateLimitedError | None = None

    def _error(self, state: RetryCallState) -> BaseException | None:
        return state.outcome.exception() if state.outcome is not None else None

    def wait(self, state: RetryCallState) -> float:
        error = self._error(state)
        if isinstance(error, AgentError):
            self.last_error = error
        p = self.policy
        if isinstance(error, RateLimitedError):
            wanted = error.retry_after_s if error.retry_after_s is not None else p.default_park_s
            # Jitter here too: sessions parked by one reset must not all return at once.
            park_jitter: float = self.rng.uniform(0.0, p.jitter_s)
            return min(max(wanted, 0.0) + park_jitter, p.max_park_s)
        self.failures += 1
        backoff = min(p.initial_backoff_s * 2.0 ** (self.failures - 1), p.max_backoff_s)
        jitter: float = self.rng.uniform(0.0, p.jitter_s)
        return backoff + jitter

    def stop(self, state: RetryCallState) -> bool:
        p = self.policy
        upcoming = state.upcoming_sleep
        if isinstance(self._error(state), RateLimitedError):
            return self.park_total + upcoming > p.max_park_total_s
        return (
            self.failures >= p.max_attempts or self.backoff_total + upcoming > p.max_backoff_total_s
        )

    def before_sleep(self, state: RetryCallState) -> None:
        error = self._error(state)
        delay = state.upcoming_sleep
        if isinstance(error, RateLimitedError):
            self.parks += 1
            self.park_total += delay
            self.parking = error
            self.log.warning("agent_parked", delay_s=round(delay, 2), error=str(error))
        else:
            self.backoff_total += delay
            self.log.warning(
                "agent_retry",
                failures=self.failures,
                delay_s=round(delay, 2),
                error=f"{type(error).__name__}: {error}",
            )


async def retrying(
    attempt: Callable[[AttemptInfo], Awaitable[T]],
    *,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    rng: random.Random | None = None,
    log: Any = None,
    on_park: ParkCallback | None = None,
) -> T:
    """Run ``attempt`` until it returns, retrying ``TransientAgentError`` per ``policy``.

    ``attempt`` gets an ``AttemptInfo`` (use it to resume the session the previous attempt
    started). Any other exception, and the last transient one when a cap is reached,
    propagates unchanged. ``sleep`` and ``rng`` are injectable for tests with a fake clock.
    ``on_park(delay_s, error)`` is awaited before each rate-limit park (record it).
    """
    budget = _Budget(policy, rng or random.Random(), log or _log)

    async def sleep_or_park(delay: float) -> None:
        parking, budget.parking = budget.parking, None
        if parking is not None and on_park is not None:
            await on_park(delay, parking)
        await sleep(delay)

    retryer = AsyncRetrying(
        retry=retry_if_exception_type(TransientAgentError),
        wait=budget.wait,
        stop=budget.stop,
        before_sleep=budget.before_sleep,
        sleep=sleep_or_park,
        reraise=True,
    )
    async for try_ in retryer:
        with try_:
            info = AttemptInfo(
                number=try_.retry_state.attempt_number,
                failures=budget.failures,
                parks=budget.parks,
                last_error=budget.last_error,
            )
            return await attempt(info)
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
