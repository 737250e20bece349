"""FakeRuntime scripts, and run_session's retries and resumes on top of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.agents import (
    AgentEvent,
    AgentRun,
    AgentRuntime,
    CallTool,
    Fail,
    FakeRuntime,
    Finish,
    Hang,
    Limits,
    Result,
    RetryPolicy,
    Say,
    SessionSpec,
    SessionStarted,
    Spend,
    Step,
    Text,
    ToolCall,
    ToolReply,
    ToolResult,
    Usage,
    Write,
    run_session,
)
from orchestrator.domain.errors import (
    AgentError,
    AgentLimitError,
    RateLimitedError,
    TransientAgentError,
)
from orchestrator.domain.roles import Role

REPORT = CallTool("report_result", {"status": "done", "summary": "ok", "files_changed": ["a.py"]})
FAST = RetryPolicy(initial_backoff_s=0, jitter_s=0, default_park_s=0)


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        self.calls.append((tool, args))
        return ToolReply(True, f"{tool} recorded")


def spec(tmp_path: Path, role: Role = Role.WORKER, **kw: Any) -> SessionSpec:
    defaults: dict[str, Any] = {
        "role": role,
        "system_prompt": "s",
        "user_prompt": "u",
        "cwd": tmp_path,
        "tool_handler": Handler(),
        "limits": Limits(wall_clock_s=10, idle_s=5),
    }
    defaults.update(kw)
    return SessionSpec(**defaults)


async def collect(run: AgentRun) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    with anyio.fail_after(10):
        async with run:
            async for event in run:
                events.append(event)
    return events


def test_fake_runtime_satisfies_the_protocol(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: []})
    assert isinstance(runtime, AgentRuntime)
    assert isinstance(runtime.run(spec(tmp_path)), AgentRun)


async def test_worker_script_writes_and_reports(tmp_path: Path) -> None:
    runtime = FakeRuntime(
        {Role.WORKER: [Say("on it"), Write("a.py", "x = 1\n"), REPORT, Finish(cost_usd=0.25)]}
    )
    s = spec(tmp_path)
    run = runtime.run(s)
    events = await collect(run)
    assert isinstance(events[0], SessionStarted)
    assert [type(e) for e in events[1:]] == [
        Usage,
        Text,
        Usage,
        ToolCall,
        ToolResult,
        Usage,
        ToolCall,
        ToolResult,
        Result,
    ]
    assert (tmp_path / "a.py").read_text() == "x = 1\n"
    assert s.tool_handler.calls == [("report_result", dict(REPORT.args))]  # type: ignore[attr-defined]
    result = events[-1]
    assert isinstance(result, Result) and not result.is_error and result.cost_usd == 0.25
    assert run.result == result and run.session_id == result.session_id
    assert runtime.tool_calls[0].reply.ok


async def test_bad_tool_input_is_an_error_result(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [CallTool("report_result", {"status": "nope"})]})
    s = spec(tmp_path)
    events = await collect(runtime.run(s))
    (tool_result,) = [e for e in events if isinstance(e, ToolResult)]
    assert tool_result.is_error and "invalid input" in tool_result.content
    assert s.tool_handler.calls == []  # type: ignore[attr-defined]


async def test_write_outside_the_worktree_is_denied(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    wt.mkdir()
    runtime = FakeRuntime({Role.WORKER: [Write("../escape.txt", "x")]})
    events = await collect(runtime.run(spec(wt)))
    (tool_result,) = [e for e in events if isinstance(e, ToolResult)]
    assert tool_result.is_error and "outside the worktree" in tool_result.content
    assert not (tmp_path / "escape.txt").exists()


async def test_scripts_per_spec(tmp_path: Path) -> None:
    def script(s: SessionSpec) -> list[Any]:
        return [Say(s.user_prompt.upper())]

    runtime = FakeRuntime(script)
    events = await collect(runtime.run(spec(tmp_path, user_prompt="hello")))
    assert Text("HELLO") in events


async def test_error_result_is_yielded_then_raised(tmp_path: Path) -> None:
    runtime = FakeRuntime(
        {Role.JUDGE: [Finish(is_error=True, api_error_status=529, cost_usd=0.01)]}
    )
    events: list[AgentEvent] = []
    run = runtime.run(spec(tmp_path, Role.JUDGE))
    with pytest.raises(TransientAgentError):
        async with run:
            async for event in run:
                events.append(event)
    assert isinstance(events[-1], Result) and events[-1].is_error


async def test_hang_trips_the_idle_watchdog(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Hang()]})
    with pytest.raises(AgentLimitError, match=r"^idle"):
        await collect(runtime.run(spec(tmp_path, limits=Limits(idle_s=0.05))))


async def test_hang_trips_the_wall_clock(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Hang()]})
    with pytest.raises(AgentLimitError, match=r"^wall_clock"):
        await collect(runtime.run(spec(tmp_path, limits=Limits(wall_clock_s=0.05, idle_s=5))))


async def test_turn_limit(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Say("1"), Say("2"), Say("3")]})
    with pytest.raises(AgentLimitError, match=r"^max_turns"):
        await collect(runtime.run(spec(tmp_path, limits=Limits(max_turns=2))))


async def test_cost_limit(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Spend(0.4), Spend(0.4)]})
    with pytest.raises(AgentLimitError, match=r"^max_cost"):
        await collect(runtime.run(spec(tmp_path, limits=Limits(max_cost_usd=0.5))))


async def test_interrupt_ends_a_hanging_session_without_error(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Hang(), Say("never")]})
    run = runtime.run(spec(tmp_path))
    events: list[AgentEvent] = []
    with anyio.fail_after(5):
        async with run:
            async for event in run:
                events.append(event)
                if isinstance(event, SessionStarted):
                    await run.interrupt()
    assert run.interrupted
    assert isinstance(events[-1], Result) and events[-1].subtype == "error_during_execution"
    assert Text("never") not in events


async def test_resume_continues_after_the_last_completed_step(tmp_path: Path) -> None:
    fail = Fail(TransientAgentError("cut"))
    runtime = FakeRuntime({Role.WORKER: [Say("before"), fail, Say("after")]})
    first = runtime.run(spec(tmp_path))
    with pytest.raises(TransientAgentError):
        await collect(first)
    assert first.session_id is not None
    events = await collect(
        runtime.run(spec(tmp_path, resume=first.session_id, user_prompt="go on"))
    )
    texts = [e.text for e in events if isinstance(e, Text)]
    assert texts == ["after"]
    assert events[0] == SessionStarted(first.session_id)


async def test_resume_of_an_unknown_session(tmp_path: Path) -> None:
    from orchestrator.agents import ResumeNotFoundError

    runtime = FakeRuntime({Role.WORKER: []})
    with pytest.raises(ResumeNotFoundError):
        await collect(runtime.run(spec(tmp_path, resume="nope")))


# -- run_session ---------------------------------------------------------------------------


async def test_run_session_retries_and_resumes_the_same_session(tmp_path: Path) -> None:
    fail = Fail(TransientAgentError("529"), times=2)
    runtime = FakeRuntime({Role.WORKER: [Spend(0.1), fail, REPORT, Finish(cost_usd=0.05)]})
    s = spec(tmp_path)
    seen: list[AgentEvent] = []

    async def on_event(event: AgentEvent) -> None:
        seen.append(event)

    with anyio.fail_after(10):
        outcome = await run_session(runtime, s, on_event=on_event, policy=FAST)
    assert outcome.attempts == 3
    assert outcome.result is not None and not outcome.result.is_error
    started = {e.session_id for e in seen if isinstance(e, SessionStarted)}
    assert started == {outcome.session_id}
    assert [x.resume for x in runtime.specs] == [None, outcome.session_id, outcome.session_id]
    assert runtime.specs[1].user_prompt != s.user_prompt  # the continue prompt
    # The report went through exactly once: the resumed session did not redo it.
    assert s.tool_handler.calls == [("report_result", dict(REPORT.args))]  # type: ignore[attr-defined]
    # 0.1 estimated for the first attempt; the resumes started after the Spend step.
    assert outcome.cost_usd == pytest.approx(0.1 + 0.05)


async def test_run_session_parks_on_rate_limits(tmp_path: Path) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    fail = Fail(RateLimitedError("slow", retry_after_s=7), times=3)
    runtime = FakeRuntime({Role.GLOBAL: [fail, Finish()]})
    outcome = await run_session(
        runtime,
        spec(tmp_path, Role.GLOBAL),
        policy=RetryPolicy(max_attempts=1, jitter_s=0),
        sleep=sleep,
    )
    assert outcome.attempts == 4 and sleeps == [7, 7, 7]


async def test_run_session_counts_the_cumulative_cost_of_a_resumed_session_once(
    tmp_path: Path,
) -> None:
    # An API error result after 0.2 spent, then a resume that spends 0.3 more: the CLI (and the
    # fake) report 0.2 and then 0.5 (cumulative); the session cost 0.5, not 0.7.
    script: list[Step] = [
        Spend(0.2),
        Fail(TransientAgentError("529"), result=True),
        Spend(0.3),
        Finish(),
    ]
    runtime = FakeRuntime({Role.WORKER: script})
    seen: list[AgentEvent] = []

    async def on_event(event: AgentEvent) -> None:
        seen.append(event)

    outcome = await run_session(runtime, spec(tmp_path), on_event=on_event, policy=FAST)
    assert outcome.attempts == 2
    assert outcome.result is not None and outcome.result.cost_usd == pytest.approx(0.5)
    assert outcome.cost_usd == pytest.approx(0.5)
    first = next(e for e in seen if isinstance(e, Result))
    assert first.is_error and first.api_error_status == 529 and first.cost_usd == pytest.approx(0.2)


async def test_run_session_gives_up_after_the_policy(tmp_path: Path) -> None:
    fail = Fail(TransientAgentError("down"), times=100)
    runtime = FakeRuntime({Role.WORKER: [fail]})
    with pytest.raises(TransientAgentError):
        await run_session(
            runtime,
            spec(tmp_path),
            policy=RetryPolicy(max_attempts=3, initial_backoff_s=0, jitter_s=0),
        )
    assert len(runtime.specs) == 3


async def test_run_session_does_not_retry_permanent_errors(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Fail(AgentError("auth"))]})
    with pytest.raises(AgentError):
        await run_session(runtime, spec(tmp_path), policy=FAST)
    assert len(runtime.specs) == 1


async def test_run_session_starts_fresh_when_the_transcript_is_gone(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [REPORT]})
    outcome = await run_session(runtime, spec(tmp_path, resume="lost-session"), policy=FAST)
    assert outcome.result is not None and not outcome.result.is_error
    assert [x.resume for x in runtime.specs] == ["lost-session", None]
    assert outcome.session_id != "lost-session"


async def test_run_session_hands_out_the_run_for_interrupts(tmp_path: Path) -> None:
    runtime = FakeRuntime({Role.WORKER: [Hang()]})
    runs: list[AgentRun] = []

    async def on_event(event: AgentEvent) -> None:
        if isinstance(event, SessionStarted):
            await runs[-1].interrupt()

    with anyio.fail_after(5):
        outcome = await run_session(
            runtime, spec(tmp_path), on_event=on_event, on_attempt=runs.append
        )
    assert outcome.interrupted and outcome.attempts == 1
