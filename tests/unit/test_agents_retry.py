"""The retry helper with a fake clock: backoff, jitter, explicit stops, parking."""

from __future__ import annotations

import random

import pytest

from orchestrator.agents import AttemptInfo, RetryPolicy, retrying
from orchestrator.domain.errors import (
    AgentError,
    AgentLimitError,
    RateLimitedError,
    TransientAgentError,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*outcomes: BaseException | str) -> tuple[list[AttemptInfo], object]:
    seen: list[AttemptInfo] = []
    queue = list(outcomes)

    async def attempt(info: AttemptInfo) -> str:
        seen.append(info)
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return seen, attempt


NO_JITTER = RetryPolicy(initial_backoff_s=2, max_backoff_s=30, jitter_s=0.0, max_attempts=5)


async def test_success_first_time_does_not_sleep() -> None:
    clock = FakeClock()
    _, attempt = scripted("ok")
    assert await retrying(attempt, sleep=clock.sleep) == "ok"  # type: ignore[arg-type]
    assert clock.sleeps == []


async def test_exponential_backoff_then_success() -> None:
    clock = FakeClock()
    seen, attempt = scripted(
        TransientAgentError("a"), TransientAgentError("b"), TransientAgentError("c"), "ok"
    )
    assert await retrying(attempt, policy=NO_JITTER, sleep=clock.sleep) == "ok"  # type: ignore[arg-type]
    assert clock.sleeps == [2, 4, 8]
    assert [i.number for i in seen] == [1, 2, 3, 4]
    assert [i.failures for i in seen] == [0, 1, 2, 3]
    assert seen[0].last_error is None
    assert str(seen[3].last_error) == "c"


async def test_backoff_is_capped_and_jittered() -> None:
    clock = FakeClock()
    policy = RetryPolicy(initial_backoff_s=10, max_backoff_s=15, jitter_s=1.0, max_attempts=10)
    _, attempt = scripted(*[TransientAgentError("x")] * 3, "ok")
    await retrying(attempt, policy=policy, sleep=clock.sleep, rng=random.Random(7))  # type: ignore[arg-type]
    assert 10 <= clock.sleeps[0] < 11
    assert 15 <= clock.sleeps[1] < 16 and 15 <= clock.sleeps[2] < 16
    assert len(set(clock.sleeps)) == 3  # jitter differs per sleep


async def test_stops_after_max_attempts_and_reraises_the_last_error() -> None:
    clock = FakeClock()
    errors = [TransientAgentError(f"e{i}") for i in range(5)]
    seen, attempt = scripted(*errors, "never")
    with pytest.raises(TransientAgentError, match="e4"):
        await retrying(attempt, policy=NO_JITTER, sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(seen) == 5
    assert clock.sleeps == [2, 4, 8, 16]


async def test_stops_when_the_backoff_budget_is_spent() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        initial_backoff_s=2, max_backoff_s=100, jitter_s=0, max_attempts=50, max_backoff_total_s=10
    )
    seen, attempt = scripted(*[TransientAgentError("x")] * 10)
    with pytest.raises(TransientAgentError):
        await retrying(attempt, policy=policy, sleep=clock.sleep)  # type: ignore[arg-type]
    # 2 + 4 = 6 slept; the next 8 would pass 10.
    assert clock.sleeps == [2, 4]
    assert len(seen) == 3


@pytest.mark.parametrize(
    "error", [AgentError("auth"), AgentLimitError("idle limit exceeded"), ValueError("bug")]
)
async def test_permanent_errors_are_not_retried(error: Exception) -> None:
    clock = FakeClock()
    seen, attempt = scripted(error, "never")
    with pytest.raises(type(error)):
        await retrying(attempt, sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(seen) == 1 and clock.sleeps == []


async def test_rate_limit_parks_for_the_reset_time_without_counting_a_failure() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=1, jitter_s=0, default_park_s=60)
    seen, attempt = scripted(
        RateLimitedError("slow", retry_after_s=30),
        RateLimitedError("slow"),
        RateLimitedError("slow", retry_after_s=5),
        "ok",
    )
    assert await retrying(attempt, policy=policy, sleep=clock.sleep) == "ok"  # type: ignore[arg-type]
    assert clock.sleeps == [30, 60, 5]
    assert [i.failures for i in seen] == [0, 0, 0, 0]
    assert seen[-1].parks == 3


async def test_a_single_park_is_capped() -> None:
    clock = FakeClock()
    _, attempt = scripted(RateLimitedError("x", retry_after_s=10_000), "ok")
    await retrying(attempt, policy=RetryPolicy(max_park_s=600), sleep=clock.sleep)  # type: ignore[arg-type]
    assert clock.sleeps == [600]


async def test_parking_has_an_overall_cap_and_reraises_the_rate_limit() -> None:
    clock = FakeClock()
    policy = RetryPolicy(default_park_s=100, max_park_total_s=250, jitter_s=0)
    seen, attempt = scripted(*[RateLimitedError("still limited")] * 10)
    with pytest.raises(RateLimitedError):
        await retrying(attempt, policy=policy, sleep=clock.sleep)  # type: ignore[arg-type]
    assert clock.sleeps == [100, 100]
    assert len(seen) == 3


async def test_parks_and_failures_mix() -> None:
    clock = FakeClock()
    seen, attempt = scripted(
        TransientAgentError("a"),
        RateLimitedError("r", retry_after_s=1),
        TransientAgentError("b"),
        "ok",
    )
    assert await retrying(attempt, policy=NO_JITTER, sleep=clock.sleep) == "ok"  # type: ignore[arg-type]
    assert clock.sleeps == [2, 1, 4]
    assert seen[-1].failures == 2 and seen[-1].parks == 1


async def test_parks_get_jitter_and_are_reported_before_the_sleep() -> None:
    clock = FakeClock()
    policy = RetryPolicy(jitter_s=0.5, max_park_s=3.2)
    _, attempt = scripted(
        RateLimitedError("a", retry_after_s=1),
        RateLimitedError("b", retry_after_s=5),
        TransientAgentError("cut"),
        "ok",
    )
    parks: list[tuple[float, str, int]] = []

    async def on_park(delay: float, error: RateLimitedError) -> None:
        parks.append((delay, str(error), len(clock.sleeps)))

    await retrying(
        attempt,
        policy=policy,
        sleep=clock.sleep,  # type: ignore[arg-type]
        rng=random.Random(7),
        on_park=on_park,
    )
    # Two parks reported (the backoff is not one), each before its own sleep.
    assert [(error, before) for _, error, before in parks] == [("a", 0), ("b", 1)]
    first, second = parks[0][0], parks[1][0]
    assert clock.sleeps[:2] == [first, second]
    assert 1 < first < 1.5, "retry-after plus jitter"
    assert second == 3.2, "capped by max_park_s"
