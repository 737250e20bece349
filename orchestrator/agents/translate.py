"""Pure translation of claude-agent-sdk messages into our events."""

from __future__ import annotations

from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    Message,
    RateLimitEvent,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from .events import (
    AgentEvent,
    ApiError,
    ApiRetry,
    RateLimitNotice,
    Result,
    SessionStarted,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from .limits import estimate_cost_usd


def _int(usage: dict[str, Any] | None, key: str) -> int:
    value = (usage or {}).get(key)
    return value if isinstance(value, int) else 0


def _content_text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


def _assistant_events(message: AssistantMessage) -> list[AgentEvent]:
    text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
    if message.error is not None:
        # A synthetic message the CLI writes after a failed request ("API Error: ..."):
        # no model output, no usage worth counting.
        return [ApiError(kind=message.error, text=text)]
    events: list[AgentEvent] = []
    usage = message.usage
    if usage:
        input_tokens = _int(usage, "input_tokens")
        output_tokens = _int(usage, "output_tokens")
        cost = estimate_cost_usd(
            message.model,
            input_tokens,
            output_tokens,
            _int(usage, "cache_creation_input_tokens"),
            _int(usage, "cache_read_input_tokens"),
        )
        events.append(Usage(cost, input_tokens, output_tokens, message.message_id))
    for block in message.content:
        if isinstance(block, TextBlock) and block.text:
            events.append(Text(block.text))
        elif isinstance(block, ToolUseBlock):
            events.append(ToolCall(name=block.name, input=dict(block.input), id=block.id))
    return events


def _user_events(message: UserMessage) -> list[AgentEvent]:
    if isinstance(message.content, str):
        return []  # our own prompt echoed back, or "[Request interrupted by user]"
    return [
        ToolResult(
            tool_use_id=block.tool_use_id,
            is_error=bool(block.is_error),
            content=_content_text(block.content),
        )
        for block in message.content
        if isinstance(block, ToolResultBlock)
    ]


def result_event(message: ResultMessage) -> Result:
    usage = message.usage
    return Result(
        session_id=message.session_id,
        is_error=message.is_error,
        subtype=message.subtype,
        cost_usd=float(message.total_cost_usd or 0.0),
        input_tokens=_int(usage, "input_tokens"),
        output_tokens=_int(usage, "output_tokens"),
        num_turns=message.num_turns,
        duration_ms=message.duration_ms,
        text=message.result or "",
        cache_read_tokens=_int(usage, "cache_read_input_tokens"),
        cache_creation_tokens=_int(usage, "cache_creation_input_tokens"),
        api_error_status=message.api_error_status,
        terminal_reason=message.terminal_reason,
        errors=tuple(message.errors or ()),
    )


def _api_retry(data: dict[str, Any]) -> ApiRetry:
    delay_ms = data.get("retry_delay_ms")
    status = data.get("error_status")
    kind = data.get("error")
    return ApiRetry(
        delay_s=max(float(delay_ms), 0.0) / 1000.0 if isinstance(delay_ms, int | float) else 0.0,
        status=status if isinstance(status, int) else None,
        kind=kind if isinstance(kind, str) else None,
    )


def translate(message: Message) -> list[AgentEvent]:
    """The events one SDK message stands for (often none: hooks, tasks, stream events)."""
    if isinstance(message, SystemMessage):
        if message.subtype == "init":
            session_id = message.data.get("session_id")
            if isinstance(session_id, str) and session_id:
                return [SessionStarted(session_id)]
        if message.subtype == "api_retry":
            return [_api_retry(message.data)]
        return []
    if isinstance(message, RateLimitEvent):
        info = message.rate_limit_info
        resets = float(info.resets_at) if info.resets_at is not None else None
        return [RateLimitNotice(str(info.status), resets, info.rate_limit_type)]
    if isinstance(message, AssistantMessage):
        return _assistant_events(message)
    if isinstance(message, UserMessage):
        return _user_events(message)
    if isinstance(message, ResultMessage):
        return [result_event(message)]
    return []
