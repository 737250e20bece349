"""Limits the daemon enforces on a session itself, and the accounting behind them.

The CLI's own ``--max-turns`` / ``--max-budget-usd`` are soft (checked between turns, and
only while the CLI is healthy), so every runtime also counts turns and estimated cost from
the events it sees and keeps the wall-clock and idle deadlines with anyio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.domain.errors import AgentLimitError

from .events import AgentEvent, ApiRetry, ToolCall, ToolResult, Usage

DEFAULT_WALL_CLOCK_S = 3600.0
DEFAULT_IDLE_S = 300.0
#: Silence allowed while a tool runs: Bash may run a check for up to 10 minutes (its cap)
#: without the CLI sending anything.
DEFAULT_TOOL_IDLE_S = 660.0


class LimitName:
    """The names a ``AgentLimitError`` message starts with (stable: the daemon logs them)."""

    WALL_CLOCK = "wall_clock"
    IDLE = "idle"
    MAX_TURNS = "max_turns"
    MAX_COST = "max_cost"


@dataclass(frozen=True)
class Limits:
    wall_clock_s: float = DEFAULT_WALL_CLOCK_S
    idle_s: float = DEFAULT_IDLE_S
    max_turns: int | None = None
    max_cost_usd: float | None = None
    #: The idle limit while a tool call is in flight (a long check command is not a stall).
    tool_idle_s: float = DEFAULT_TOOL_IDLE_S


def limit_error(name: str, detail: str) -> AgentLimitError:
    return AgentLimitError(f"{name} limit exceeded: {detail}")


#: USD per million tokens: (input, output, cache write, cache read). Estimates for the
#: running limit only; the Result carries the CLI's own figure. Unknown models (the
#: simulator's too) are priced like Sonnet.
_PRICES: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("opus", (15.0, 75.0, 18.75, 1.5)),
    ("haiku", (1.0, 5.0, 1.25, 0.1)),
    ("sonnet", (3.0, 15.0, 3.75, 0.3)),
)
_DEFAULT_PRICE = (3.0, 15.0, 3.75, 0.3)


def estimate_cost_usd(
    model: str | None,
    input_tokens: int,
    output_tokens: int,
    cache_creation_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> float:
    price = _DEFAULT_PRICE
    name = (model or "").lower()
    for family, family_price in _PRICES:
        if family in name:
            price = family_price
            break
    p_in, p_out, p_write, p_read = price
    total = (
        input_tokens * p_in
        + output_tokens * p_out
        + cache_creation_tokens * p_write
        + cache_read_tokens * p_read
    )
    return total / 1_000_000


class LimitTracker:
    """Counts turns and cost from events and knows how long the next wait may last."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._deadline = clock() + limits.wall_clock_s
        self._seen_messages: set[str] = set()
        self._tools_running: set[str] = set()
        self.turns = 0
        self.cost_usd = 0.0
        #: Silence the CLI announced (its api_retry delay): it sends nothing meanwhile.
        self._announced_quiet_s = 0.0

    def is_new(self, event: Usage) -> bool:
        """False for the repeated usage of a response already counted."""
        return event.message_id is None or event.message_id not in self._seen_messages

    def observe(self, event: AgentEvent) -> None:
        """Account one event; raise ``AgentLimitError`` when a count limit is passed."""
        self._announced_quiet_s = event.delay_s if isinstance(event, ApiRetry) else 0.0
        if isinstance(event, ToolCall):
            self._tools_running.add(event.id)
            return
        if isinstance(event, ToolResult):
            self._tools_running.discard(event.tool_use_id)
            return
        if not isinstance(event, Usage):
            return
        # One model response arrives as several assistant messages with the same id.
        if event.message_id is not None:
            if event.message_id in self._seen_messages:
                return
            self._seen_messages.add(event.message_id)
        self.turns += 1
        self.cost_usd += event.cost_usd or 0.0
        max_turns = self.limits.max_turns
        if max_turns is not None and self.turns > max_turns:
            raise limit_error(LimitName.MAX_TURNS, f"{self.turns} turns > {max_turns}")
        max_cost = self.limits.max_cost_usd
        if max_cost is not None and self.cost_usd > max_cost:
            raise limit_error(
                LimitName.MAX_COST, f"estimated ${self.cost_usd:.4f} > ${max_cost:.4f}"
            )

    def next_wait(self) -> tuple[float, str]:
        """How long the next wait for a message may last, and which limit ends it."""
        remaining = self._deadline - self._clock()
        idle = self.idle_s
        if remaining <= idle:
            return max(remaining, 0.0), LimitName.WALL_CLOCK
        return idle, LimitName.IDLE

    @property
    def idle_s(self) -> float:
        """The idle limit now: longer while a tool call is in flight or the CLI waits to
        retry a request."""
        idle = self.limits.idle_s + self._announced_quiet_s
        if self._tools_running:
            return max(idle, self.limits.tool_idle_s)
        return idle

    def expired(self, which: str) -> AgentLimitError:
        if which == LimitName.WALL_CLOCK:
            return limit_error(which, f"session ran over {self.limits.wall_clock_s:g}s")
        return limit_error(which, f"no message for {self.idle_s:g}s")

    @property
    def wall_clock_left(self) -> float:
        return max(self._deadline - self._clock(), 0.0)
