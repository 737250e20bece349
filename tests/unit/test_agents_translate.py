"""The SDK-message → event translator, on constructed SDK message objects."""

from __future__ import annotations

from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from orchestrator.agents import (
    ApiError,
    Result,
    SessionStarted,
    Text,
    ToolCall,
    ToolResult,
    Usage,
    translate,
)

SID = "0b7d4a4e-1d5c-4a53-9a57-3c1f0e1a2b3c"


def _assistant(*blocks: object, **kw: object) -> AssistantMessage:
    defaults: dict[str, object] = {
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 1000, "output_tokens": 10},
        "message_id": "msg_1",
        "session_id": SID,
    }
    defaults.update(kw)
    return AssistantMessage(content=list(blocks), **defaults)  # type: ignore[arg-type]


def test_init_message_starts_the_session() -> None:
    msg = SystemMessage(
        subtype="init", data={"type": "system", "subtype": "init", "session_id": SID}
    )
    assert translate(msg) == [SessionStarted(SID)]


def test_other_system_messages_are_dropped() -> None:
    msg = SystemMessage(subtype="session_state_changed", data={"state": "idle"})
    assert translate(msg) == []
    assert translate(SystemMessage(subtype="init", data={})) == []


def test_assistant_text_and_tool_use_with_usage_first() -> None:
    msg = _assistant(
        ThinkingBlock(thinking="hmm", signature="s"),
        TextBlock(text="Writing the file."),
        ToolUseBlock(id="toolu_1", name="Write", input={"file_path": "a.py", "content": "x"}),
    )
    events = translate(msg)
    assert isinstance(events[0], Usage)
    assert events[0].input_tokens == 1000 and events[0].output_tokens == 10
    assert events[0].message_id == "msg_1"
    # Sonnet: $3/M in, $15/M out.
    assert events[0].cost_usd is not None
    assert abs(events[0].cost_usd - (1000 * 3 + 10 * 15) / 1e6) < 1e-12
    assert events[1:] == [
        Text("Writing the file."),
        ToolCall("Write", {"file_path": "a.py", "content": "x"}, "toolu_1"),
    ]


def test_assistant_without_usage_has_no_usage_event() -> None:
    events = translate(_assistant(TextBlock(text="hi"), usage=None))
    assert events == [Text("hi")]


def test_synthetic_api_error_message() -> None:
    msg = _assistant(
        TextBlock(text="API Error: Request rejected (429) · Rate limited"),
        model="<synthetic>",
        error="rate_limit",
    )
    assert translate(msg) == [
        ApiError("rate_limit", "API Error: Request rejected (429) · Rate limited")
    ]


def test_tool_results_from_user_messages() -> None:
    msg = UserMessage(
        content=[
            ToolResultBlock(tool_use_id="t1", content="Input validation error", is_error=True),
            ToolResultBlock(tool_use_id="t2", content=[{"type": "text", "text": "ok"}]),
            TextBlock(text="reminder"),
        ]
    )
    assert translate(msg) == [
        ToolResult("t1", True, "Input validation error"),
        ToolResult("t2", False, "ok"),
    ]


def test_plain_user_prompt_is_dropped() -> None:
    assert translate(UserMessage(content="[Request interrupted by user]")) == []


def test_result_message() -> None:
    msg = ResultMessage(
        subtype="success",
        duration_ms=1234,
        duration_api_ms=1000,
        is_error=True,
        num_turns=3,
        session_id=SID,
        total_cost_usd=0.0123,
        usage={
            "input_tokens": 100,
            "output_tokens": 7,
            "cache_read_input_tokens": 50,
            "cache_creation_input_tokens": 5,
        },
        result="API Error: 529 Overloaded",
        api_error_status=529,
        terminal_reason="api_error",
        errors=["x"],
    )
    assert translate(msg) == [
        Result(
            session_id=SID,
            is_error=True,
            subtype="success",
            cost_usd=0.0123,
            input_tokens=100,
            output_tokens=7,
            num_turns=3,
            duration_ms=1234,
            text="API Error: 529 Overloaded",
            cache_read_tokens=50,
            cache_creation_tokens=5,
            api_error_status=529,
            terminal_reason="api_error",
            errors=("x",),
        )
    ]


def test_result_without_cost_or_usage() -> None:
    msg = ResultMessage(
        subtype="error_during_execution",
        duration_ms=1,
        duration_api_ms=0,
        is_error=True,
        num_turns=0,
        session_id=SID,
    )
    (result,) = translate(msg)
    assert isinstance(result, Result)
    assert result.cost_usd == 0.0 and result.input_tokens == 0 and result.text == ""


def test_stream_events_are_dropped() -> None:
    msg = StreamEvent(uuid="u", session_id=SID, event={"type": "ping"})
    assert translate(msg) == []


def test_the_clis_retry_notice_and_rate_limit_event_become_events() -> None:
    from claude_agent_sdk._internal.message_parser import parse_message

    from orchestrator.agents.events import ApiRetry, RateLimitNotice

    # Shapes as the bundled CLI 2.1.x writes them (api_retry captured against the simulator).
    retry = parse_message(
        {
            "type": "system",
            "subtype": "api_retry",
            "attempt": 1,
            "max_retries": 1,
            "retry_delay_ms": 1117,
            "error_status": 429,
            "error": "rate_limit",
            "session_id": "s",
            "uuid": "u",
        }
    )
    assert translate(retry) == [ApiRetry(delay_s=1.117, status=429, kind="rate_limit")]
    event = parse_message(
        {
            "type": "rate_limit_event",
            "rate_limit_info": {
                "status": "allowed_warning",
                "resetsAt": 1_900_000_000,
                "rateLimitType": "five_hour",
            },
            "uuid": "u",
            "session_id": "s",
        }
    )
    assert translate(event) == [RateLimitNotice("allowed_warning", 1_900_000_000.0, "five_hour")]
