"""ClaudeRuntime through the real bundled Claude Code CLI against the simulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from claude_agent_sdk import ClaudeAgentOptions

from orchestrator.agents import (
    AgentEvent,
    ApiError,
    ClaudeRuntime,
    Limits,
    Result,
    ResumeNotFoundError,
    SessionSpec,
    SessionStarted,
    ToolCall,
    ToolReply,
    ToolResult,
    continue_prompt,
    find_agent_processes,
    system_prompt,
    user_prompt,
)
from orchestrator.agents.events import ApiRetry
from orchestrator.domain.errors import AgentLimitError, RateLimitedError, TransientAgentError
from orchestrator.domain.roles import Role
from orchestrator.sim import SimServer, sim_env
from orchestrator.sim.handler import RETRY_AFTER_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MODEL = "claude-sonnet-4-5"


class Handler:
    """Records tool calls; ``reject`` answers ok=False for the first calls of a tool."""

    def __init__(self, reject: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reject = dict(reject or {})

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        self.calls.append((tool, args))
        if tool in self.reject:
            return ToolReply(False, self.reject.pop(tool))
        return ToolReply(True, f"{tool} recorded")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=3) as server:
        yield server


@pytest.fixture
def owner() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def runtime(owner: str) -> ClaudeRuntime:
    started: list[int] = []
    rt = ClaudeRuntime(
        owner=owner, kill_grace_s=2.0, on_process_started=lambda pid, _: started.append(pid)
    )
    rt.started = started  # type: ignore[attr-defined]
    return rt


def worker_payload(
    worktree: Path, wo_id: str = "WO-2025-001", check: str | None = "true"
) -> dict[str, Any]:
    return {
        "kind": "work_order",
        "wo": {
            "id": wo_id,
            "title": "Add a module",
            "goal": "A module that names its work order",
            "context": "",
            "acceptance_criteria": ["a test passes"],
            "non_goals": [],
            "notes": "",
        },
        "track": {"id": "TR-1", "name": "core", "goal": "grow"},
        "worktree": str(worktree),
        "check_command": check,
        "attempt": 1,
        "previous_failure": None,
        "recovery": None,
    }


JUDGE_PAYLOAD = {
    "kind": "judge",
    "experiment": "EX-1",
    "candidates": [
        {"track_id": "TR-a", "hypothesis": "cache", "passed": False, "eval_output": "slow"},
        {"track_id": "TR-b", "hypothesis": "index", "passed": True, "eval_output": "fast"},
    ],
}


@pytest.fixture
def make_spec(sim: SimServer, tmp_path: Path) -> Callable[..., SessionSpec]:
    def make(role: Role, payload: dict[str, Any], cwd: Path, **kw: Any) -> SessionSpec:
        defaults: dict[str, Any] = {
            "role": role,
            "system_prompt": system_prompt(role),
            "user_prompt": user_prompt(role, payload),
            "cwd": cwd,
            "tool_handler": Handler(),
            "config_dir": tmp_path / "claude-config",
            "env": sim_env(sim.base_url),
            "model": MODEL,
            "limits": Limits(wall_clock_s=90, idle_s=30),
            "run_id": f"run-{uuid.uuid4().hex[:6]}",
        }
        defaults.update(kw)
        return SessionSpec(**defaults)

    return make


async def run_all(
    runtime: ClaudeRuntime, spec: SessionSpec, timeout: float = 90
) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    with anyio.fail_after(timeout):
        async with runtime.run(spec) as run:
            async for event in run:
                events.append(event)
    return events


def assert_no_cli_left(owner: str) -> None:
    assert find_agent_processes(owner) == []


async def test_worker_edits_files_and_reports(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    make_repo: Callable[..., Path],
    owner: str,
) -> None:
    repo = make_repo()
    spec = make_spec(Role.WORKER, worker_payload(repo), repo)
    events = await run_all(runtime, spec)

    assert isinstance(events[0], SessionStarted)
    result = events[-1]
    assert isinstance(result, Result) and not result.is_error
    assert result.session_id == events[0].session_id
    assert result.cost_usd > 0 and result.num_turns >= 3
    tool_names = [e.name for e in events if isinstance(e, ToolCall)]
    assert tool_names.count("Write") == 2 and "Bash" in tool_names
    assert tool_names[-1] == "mcp__orch__report_result"
    assert not any(e.is_error for e in events if isinstance(e, ToolResult))
    assert (repo / "wo" / "wo_2025_001.py").is_file()
    assert (repo / "tests" / "test_wo_2025_001.py").is_file()
    handler = spec.tool_handler
    assert [c[0] for c in handler.calls] == ["report_result"]  # type: ignore[attr-defined]
    assert handler.calls[0][1]["status"] == "done"  # type: ignore[attr-defined]
    assert len(runtime.started) == 1  # type: ignore[attr-defined]
    assert runtime.live_pids() == frozenset()
    assert_no_cli_left(owner)


async def test_decision_role_acts_only_through_its_tool(
    runtime: ClaudeRuntime, make_spec: Callable[..., SessionSpec], sim: SimServer, tmp_path: Path
) -> None:
    spec = make_spec(Role.JUDGE, JUDGE_PAYLOAD, tmp_path)
    events = await run_all(runtime, spec)
    assert spec.tool_handler.calls == [  # type: ignore[attr-defined]
        (
            "pick_winner",
            {
                "winner_track_id": "TR-b",
                "reason": "TR-b is the first candidate whose evaluation passed.",
            },
        )
    ]
    assert isinstance(events[-1], Result) and not events[-1].is_error
    # The model was offered our one tool and no built-in tool at all.
    (first, *_) = sim.requests(Role.JUDGE)
    assert [t["name"] for t in first["tools"]] == ["mcp__orch__pick_winner"]


async def test_rejected_tool_call_lets_the_agent_correct_itself(
    runtime: ClaudeRuntime, make_spec: Callable[..., SessionSpec], tmp_path: Path
) -> None:
    payload = {
        "kind": "choose_next",
        "project": "p",
        "directive": {"weights": {}, "reason": ""},
        "track": {"id": "TR-1", "name": "core", "goal": "g"},
        "ready_work_orders": [
            {"id": "WO-2025-001", "title": "a", "priority": 1, "tags": [], "depends_on": []},
            {"id": "WO-2025-002", "title": "b", "priority": 2, "tags": [], "depends_on": []},
        ],
        "queue_size": 1,
    }
    handler = Handler(reject={"choose_work_orders": "WO-2025-001 is blocked by a failing check"})
    events = await run_all(
        runtime, make_spec(Role.PROJECT, payload, tmp_path, tool_handler=handler)
    )
    assert [c[1]["wo_ids"] for c in handler.calls] == [["WO-2025-001"], ["WO-2025-002"]]
    errors = [e for e in events if isinstance(e, ToolResult) and e.is_error]
    assert len(errors) == 1 and "blocked by a failing check" in errors[0].content


async def test_interrupt_then_resume_carries_the_earlier_messages(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    make_repo: Callable[..., Path],
    sim: SimServer,
    owner: str,
) -> None:
    repo = make_repo()
    sim.set_faults("latency:3s")
    spec = make_spec(Role.WORKER, worker_payload(repo), repo)
    with anyio.fail_after(60):
        async with runtime.run(spec) as run:
            async for event in run:
                if isinstance(event, SessionStarted):
                    await run.interrupt()
    assert run.interrupted
    assert run.result is not None and run.result.is_error
    assert run.result.subtype == "error_during_execution"
    session_id = run.session_id
    assert session_id is not None
    assert_no_cli_left(owner)
    assert spec.tool_handler.calls == []  # type: ignore[attr-defined]

    sim.set_faults("")
    before = len(sim.requests(Role.WORKER))
    resumed = make_spec(
        Role.WORKER,
        {},
        repo,
        resume=session_id,
        user_prompt=continue_prompt(),
        tool_handler=spec.tool_handler,
    )
    events = await run_all(runtime, resumed)
    assert events[0] == SessionStarted(session_id)
    assert isinstance(events[-1], Result) and not events[-1].is_error
    first_resumed = sim.requests(Role.WORKER)[before]
    texts = str(first_resumed["messages"])
    assert spec.user_prompt.splitlines()[0] in texts  # the original prompt
    assert "<orch-payload>" in texts
    assert "cut off by a temporary service error" in texts  # the new prompt
    assert [c[0] for c in spec.tool_handler.calls] == ["report_result"]  # type: ignore[attr-defined]
    assert_no_cli_left(owner)


async def test_resume_of_an_unknown_session(
    runtime: ClaudeRuntime, make_spec: Callable[..., SessionSpec], tmp_path: Path
) -> None:
    spec = make_spec(Role.JUDGE, JUDGE_PAYLOAD, tmp_path, resume=str(uuid.uuid4()))
    with pytest.raises(ResumeNotFoundError):
        await run_all(runtime, spec)


async def test_guard_denies_a_real_write_outside_the_worktree(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    make_repo: Callable[..., Path],
    tmp_path: Path,
) -> None:
    repo = make_repo()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The payload points the simulated worker at another directory: it writes there.
    spec = make_spec(Role.WORKER, worker_payload(elsewhere), repo)
    events = await run_all(runtime, spec)
    denied = [e for e in events if isinstance(e, ToolResult) and e.is_error]
    assert denied and all("outside the worktree" in e.content for e in denied)
    assert list(elsewhere.iterdir()) == []
    calls = spec.tool_handler.calls  # type: ignore[attr-defined]
    assert calls and calls[0][0] == "report_result" and calls[0][1]["status"] == "failed"


def _raising_policy(*_: Any, **__: Any) -> str | None:
    raise ValueError("embedded null byte")


class RawRaisingHookRuntime(ClaudeRuntime):
    """Our guard's callback replaced by one that raises: only ``on_failure`` stands."""

    def options_for(self, spec: SessionSpec, **kw: Any) -> ClaudeAgentOptions:
        options = super().options_for(spec, **kw)
        assert options.hooks is not None

        async def boom(*_: Any) -> Any:
            raise RuntimeError("hook crashed")

        for matcher in options.hooks["PreToolUse"]:
            matcher.hooks = [boom]
        return options


@pytest.mark.parametrize("failure", ["policy_raises", "callback_raises"])
async def test_a_failing_guard_denies_on_the_real_cli(
    failure: str,
    owner: str,
    make_spec: Callable[..., SessionSpec],
    make_repo: Callable[..., Path],
    tmp_path: Path,
) -> None:
    if failure == "policy_raises":
        runtime = ClaudeRuntime(owner=owner, kill_grace_s=2.0, write_policy=_raising_policy)
    else:
        runtime = RawRaisingHookRuntime(owner=owner, kill_grace_s=2.0)
    repo = make_repo()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = make_spec(Role.WORKER, worker_payload(elsewhere), repo)
    events = await run_all(runtime, spec)
    writes = {e.id for e in events if isinstance(e, ToolCall) and e.name == "Write"}
    results = [e for e in events if isinstance(e, ToolResult) and e.tool_use_id in writes]
    assert results and all(e.is_error and "PreToolUse" in e.content for e in results), results
    assert list(elsewhere.iterdir()) == []
    calls = spec.tool_handler.calls  # type: ignore[attr-defined]
    assert calls and calls[0][1]["status"] == "failed"
    assert_no_cli_left(owner)


async def test_stall_trips_the_idle_watchdog_and_no_cli_remains(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    sim: SimServer,
    tmp_path: Path,
    owner: str,
) -> None:
    sim.set_faults("stall:1")
    spec = make_spec(Role.JUDGE, JUDGE_PAYLOAD, tmp_path, limits=Limits(wall_clock_s=60, idle_s=2))
    with pytest.raises(AgentLimitError, match=r"^idle"):
        await run_all(runtime, spec, timeout=30)
    assert runtime.started  # type: ignore[attr-defined]
    assert runtime.live_pids() == frozenset()
    assert_no_cli_left(owner)


async def test_wall_clock_limit(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    sim: SimServer,
    tmp_path: Path,
    owner: str,
) -> None:
    sim.set_faults("latency:10s")
    spec = make_spec(Role.JUDGE, JUDGE_PAYLOAD, tmp_path, limits=Limits(wall_clock_s=3, idle_s=30))
    with pytest.raises(AgentLimitError, match=r"^wall_clock"):
        await run_all(runtime, spec, timeout=30)
    assert_no_cli_left(owner)


async def test_cancelling_the_caller_ends_the_cli(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    sim: SimServer,
    tmp_path: Path,
    owner: str,
) -> None:
    sim.set_faults("stall:1")
    spec = make_spec(Role.JUDGE, JUDGE_PAYLOAD, tmp_path)
    with anyio.move_on_after(3):
        await run_all(runtime, spec)
    assert runtime.started  # type: ignore[attr-defined]
    assert_no_cli_left(owner)


@pytest.mark.parametrize(
    ("faults", "error", "status"),
    [
        ("429:1", RateLimitedError, 429),
        ("529:1", TransientAgentError, 529),
        ("500:1", TransientAgentError, 500),
    ],
)
async def test_api_errors_are_yielded_then_classified(
    runtime: ClaudeRuntime,
    make_spec: Callable[..., SessionSpec],
    sim: SimServer,
    tmp_path: Path,
    faults: str,
    error: type[Exception],
    status: int,
) -> None:
    sim.set_faults(faults)
    events: list[AgentEvent] = []
    with anyio.fail_after(60), pytest.raises(error) as raised:
        async with runtime.run(make_spec(Role.JUDGE, JUDGE_PAYLOAD, tmp_path)) as run:
            async for event in run:
                events.append(event)
    result = events[-1]
    assert isinstance(result, Result) and result.is_error and result.api_error_status == status
    assert any(isinstance(e, ApiError) for e in events)
    # Our default lets the CLI retry once on its own, announcing the delay first (for a 429,
    # the server's retry-after, which then becomes the error's).
    assert sim.stats()["roles"]["judge"]["requests"] == 2
    (retry,) = [e for e in events if isinstance(e, ApiRetry)]
    assert retry.status == status and retry.delay_s > 0
    if status == 429:
        assert isinstance(raised.value, RateLimitedError)
        assert raised.value.retry_after_s == retry.delay_s
        assert RETRY_AFTER_S <= retry.delay_s <= RETRY_AFTER_S * 1.25


async def test_session_store_mirrors_and_feeds_a_resume_without_the_transcript(
    runtime: ClaudeRuntime, make_spec: Callable[..., SessionSpec], sim: SimServer, tmp_path: Path
) -> None:
    import shutil

    from claude_agent_sdk import InMemorySessionStore, project_key_for_directory

    store = InMemorySessionStore()
    first_config = tmp_path / "config-1"
    spec = make_spec(
        Role.JUDGE, JUDGE_PAYLOAD, tmp_path, session_store=store, config_dir=first_config
    )
    events = await run_all(runtime, spec)
    session_id = events[0].session_id  # type: ignore[union-attr]
    key = {"project_key": project_key_for_directory(tmp_path), "session_id": session_id}
    assert store.get_entries(key)  # type: ignore[arg-type]

    # The CLI's own transcript is gone (say, a wiped state dir): the store still resumes it.
    shutil.rmtree(first_config)
    before = len(sim.requests(Role.JUDGE))
    resumed = make_spec(
        Role.JUDGE,
        {},
        tmp_path,
        resume=session_id,
        user_prompt="Please confirm the winner.",
        session_store=store,
        config_dir=tmp_path / "config-2",
    )
    events = await run_all(runtime, resumed)
    assert events[0] == SessionStarted(session_id)
    assert isinstance(events[-1], Result) and not events[-1].is_error
    assert "TR-b" in str(sim.requests(Role.JUDGE)[before]["messages"])
