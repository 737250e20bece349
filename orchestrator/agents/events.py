"""Our own typed events of an agent session, independent of the SDK's message classes.

Callers (the daemon, tests) only ever see these; ``translate`` maps SDK messages onto them
and ``FakeRuntime`` produces them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SessionStarted:
    """The CLI announced the session id (its ``init`` message), before any tool runs.

    Persist this id at once: it is what a resume after a crash needs.
    """

    session_id: str


@dataclass(frozen=True)
class Text:
    """Assistant prose. Never parsed for decisions: agents act through their tools."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The agent asked to run a tool (built-in names like ``Write``, ours as ``mcp__orch__X``)."""

    name: str
    input: Mapping[str, Any]
    id: str


@dataclass(frozen=True)
class ToolResult:
    tool_use_id: str
    is_error: bool
    content: str


@dataclass(frozen=True)
class Usage:
    """Tokens of one model response as it streams, with an estimated cost.

    ``cost_usd`` is our estimate from a price table (the CLI reports the real figure only in
    the final ``Result``); output tokens are a lower bound because the CLI forwards the
    usage of the response's start. ``message_id`` lets consumers count a response once:
    the CLI emits one assistant message per content block, each with the same usage.
    """

    cost_usd: float | None
    input_tokens: int
    output_tokens: int
    message_id: str | None = None


@dataclass(frozen=True)
class ApiError:
    """The CLI gave up on a model request and said so in an assistant message.

    ``kind`` is the SDK's ``AssistantMessageError`` (``rate_limit``, ``server_error``,
    ``authentication_failed``, ``billing_error``, ``invalid_request``, ``unknown``).
    A ``Result`` with ``is_error`` follows.
    """

    kind: str
    text: str


@dataclass(frozen=True)
class ApiRetry:
    """The CLI retries a failed model request itself after ``delay_s`` (its ``api_retry``
    message). For a 429 that delay is the server's ``retry-after`` (plus a little jitter):
    the one place that header reaches us."""

    delay_s: float
    status: int | None
    kind: str | None = None


@dataclass(frozen=True)
class RateLimitNotice:
    """The CLI's ``rate_limit_event`` (sent for claude.ai logins when the usage window's
    state changes): ``status`` is ``allowed``, ``allowed_warning`` or ``rejected``;
    ``resets_at`` a Unix time."""

    status: str
    resets_at: float | None = None
    limit_type: str | None = None


@dataclass(frozen=True)
class Result:
    """The end of a session. ``is_error`` true is a failure whatever ``subtype`` says."""

    session_id: str
    is_error: bool
    subtype: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    num_turns: int
    duration_ms: int
    text: str
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    api_error_status: int | None = None
    terminal_reason: str | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)


AgentEvent = (
    SessionStarted
    | Text
    | ToolCall
    | ToolResult
    | Usage
    | ApiError
    | ApiRetry
    | RateLimitNotice
    | Result
)
