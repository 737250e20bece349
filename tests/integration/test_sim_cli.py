"""The real bundled Claude Code CLI, through claude-agent-sdk, against the simulator.

Each test starts the simulator in-process, gives the CLI its own CLAUDE_CONFIG_DIR under
tmp_path, and defines the orchestrator's MCP tools in-process (``create_sdk_mcp_server``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookContext,
    HookInput,
    HookJSONOutput,
    HookMatcher,
    ResultMessage,
    SdkMcpTool,
    ToolUseBlock,
    create_sdk_mcp_server,
    tool,
)
from claude_agent_sdk.types import HookEvent

from orchestrator.domain.payload import render_payload, role_line
from orchestrator.domain.roles import (
    MCP_SERVER_NAME,
    ROLE_MCP_TOOLS,
    WORKER_BUILTIN_TOOLS,
    Role,
    allowed_tools,
)
from orchestrator.domain.tool_contracts import TOOL_DESCRIPTIONS, TOOL_SCHEMAS
from orchestrator.sim import SimServer, sim_env

pytestmark = pytest.mark.integration

#: Bound for one CLI session (startup is 1-2 s; a session a few seconds more).
SESSION_TIMEOUT_S = 90
MODEL = "claude-sonnet-4-5"


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=1) as server:
        yield server
        assert server.errors() == [], server.errors()


class Recorder:
    """Our MCP tools, recording every call the CLI makes to them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def tools(self, role: Role) -> list[SdkMcpTool[Any]]:
        return [self._tool(name) for name in ROLE_MCP_TOOLS[role]]

    def _tool(self, name: str) -> SdkMcpTool[Any]:
        async def handler(args: dict[str, Any]) -> dict[str, Any]:
            self.calls.append((name, args))
            return {"content": [{"type": "text", "text": f"{name} recorded"}]}

        return tool(name, TOOL_DESCRIPTIONS[name], TOOL_SCHEMAS[name])(handler)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [args for n, args in self.calls if n == name]


def options(
    sim: SimServer,
    tmp_path: Path,
    role: Role,
    recorder: Recorder,
    cwd: Path,
    *,
    tools: list[str] | None,
    extra_env: dict[str, str] | None = None,
    resume: str | None = None,
    hooks: dict[HookEvent, list[HookMatcher]] | None = None,
) -> ClaudeAgentOptions:
    server = create_sdk_mcp_server(name=MCP_SERVER_NAME, tools=recorder.tools(role))
    env = sim_env(sim.base_url, str(tmp_path / "claude-config")) | (extra_env or {})
    return ClaudeAgentOptions(
        cwd=str(cwd),
        env=env,
        model=MODEL,
        system_prompt=f"{role_line(role)}\nYou are the orchestrator's {role.value} agent.",
        permission_mode="dontAsk",
        allowed_tools=allowed_tools(role),
        tools=tools,
        mcp_servers={MCP_SERVER_NAME: server},
        resume=resume,
        hooks=hooks,
    )


async def run(opts: ClaudeAgentOptions, prompt: str) -> list[Any]:
    messages: list[Any] = []
    with anyio.fail_after(SESSION_TIMEOUT_S):
        async with ClaudeSDKClient(opts) as client:
            await client.query(prompt)
            async for message in client.receive_response():
                messages.append(message)
    return messages


def result_of(messages: list[Any]) -> ResultMessage:
    results = [m for m in messages if isinstance(m, ResultMessage)]
    assert len(results) == 1
    return results[0]


def tool_uses(messages: list[Any]) -> list[str]:
    return [
        block.name
        for m in messages
        if isinstance(m, AssistantMessage)
        for block in m.content
        if isinstance(block, ToolUseBlock)
    ]


def git_repo(path: Path) -> Path:
    path.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "sim@example.invalid"],
        ["config", "user.name", "sim"],
        ["commit", "-q", "--allow-empty", "-m", "base"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, timeout=30)
    return path


def work_order_prompt(worktree: Path) -> str:
    payload = {
        "kind": "work_order",
        "wo": {"id": "WO-2025-042", "title": "Add a marker module", "goal": "Prove the loop"},
        "track": {"id": "demo", "name": "Demo", "goal": "Demo track"},
        "worktree": str(worktree),
        # The venv's interpreter: the CLI's PATH may have a Python without pytest.
        "check_command": f"{sys.executable} -m pytest -q -p no:cacheprovider",
        "attempt": 1,
        "previous_failure": None,
        "recovery": None,
    }
    return "Carry out this work order.\n" + render_payload(payload)


async def test_worker_session_writes_checks_and_reports(sim: SimServer, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    recorder = Recorder()
    opts = options(sim, tmp_path, Role.WORKER, recorder, repo, tools=list(WORKER_BUILTIN_TOOLS))
    messages = await run(opts, work_order_prompt(repo))

    result = result_of(messages)
    assert result.is_error is False, result
    assert result.session_id
    assert (result.total_cost_usd or 0) > 0
    assert tool_uses(messages) == ["Write", "Write", "Bash", "mcp__orch__report_result"]
    (report,) = recorder.named("report_result")
    assert report["status"] == "done"
    assert report["files_changed"] == ["wo/wo_2025_042.py", "tests/test_wo_2025_042.py"]
    assert "passed" in report["summary"]
    assert (repo / "wo" / "wo_2025_042.py").read_text().startswith('"""Work order WO-2025-042')
    assert (repo / "tests" / "test_wo_2025_042.py").is_file()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, timeout=30
    )
    assert "wo/" in status.stdout and "tests/" in status.stdout
    stats = sim.stats()
    assert stats["roles"]["worker"]["requests"] == 4
    # The CLI reports exactly the usage the simulator sent.
    assert result.usage is not None
    assert stats["roles"]["worker"]["input_tokens"] == result.usage["input_tokens"]


async def test_worker_reports_failed_when_a_write_is_denied(sim: SimServer, tmp_path: Path) -> None:
    """A PreToolUse hook (like the runtime's worktree guard) denies the test file."""
    repo = git_repo(tmp_path / "repo")
    recorder = Recorder()

    async def guard(
        data: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        tool_input = data.get("tool_input")
        path = str(tool_input.get("file_path", "")) if isinstance(tool_input, dict) else ""
        if "/tests/" not in path:
            return {}
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "writes to tests/ are not allowed here",
            }
        }

    hooks: dict[HookEvent, list[HookMatcher]] = {
        "PreToolUse": [HookMatcher(matcher="Write|Edit", hooks=[guard])]
    }
    opts = options(
        sim, tmp_path, Role.WORKER, recorder, repo, tools=list(WORKER_BUILTIN_TOOLS), hooks=hooks
    )
    messages = await run(opts, work_order_prompt(repo))

    assert result_of(messages).is_error is False  # the session ran fine; the work failed
    assert tool_uses(messages) == ["Write", "Write", "mcp__orch__report_result"]
    (report,) = recorder.named("report_result")
    assert report["status"] == "failed"
    assert "not allowed here" in report["summary"]
    assert report["files_changed"] == ["wo/wo_2025_042.py"]
    assert not (repo / "tests").exists()


@pytest.mark.parametrize(
    "tools",
    [pytest.param([], id="no-builtin-tools"), pytest.param(None, id="deferred-mcp-tools")],
)
async def test_project_session_chooses_work_orders(
    sim: SimServer, tmp_path: Path, tools: list[str] | None
) -> None:
    payload = {
        "kind": "choose_next",
        "project": "demo",
        "directive": {"weights": {"api": 5}, "reason": "api first"},
        "track": {"id": "api", "name": "API", "goal": "Serve"},
        "ready_work_orders": [
            {"id": "WO-2025-003", "title": "c", "priority": 2, "tags": [], "depends_on": []},
            {"id": "WO-2025-002", "title": "b", "priority": 1, "tags": [], "depends_on": []},
            {"id": "WO-2025-001", "title": "a", "priority": 2, "tags": [], "depends_on": []},
        ],
        "queue_size": 2,
    }
    recorder = Recorder()
    opts = options(sim, tmp_path, Role.PROJECT, recorder, tmp_path, tools=tools)
    messages = await run(opts, "Choose the next work.\n" + render_payload(payload))

    assert result_of(messages).is_error is False
    (choice,) = recorder.named("choose_work_orders")
    assert choice["track_id"] == "api"
    assert choice["wo_ids"] == ["WO-2025-002", "WO-2025-001"]
    expected = ["mcp__orch__choose_work_orders"]
    if tools is None:
        # Without an explicit tool list the CLI defers MCP tools behind ToolSearch.
        expected.insert(0, "ToolSearch")
    assert tool_uses(messages) == expected


async def test_resumed_session_carries_the_earlier_messages(sim: SimServer, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    recorder = Recorder()
    builtin = list(WORKER_BUILTIN_TOOLS)
    first = await run(
        options(sim, tmp_path, Role.WORKER, recorder, repo, tools=builtin),
        work_order_prompt(repo),
    )
    session_id = result_of(first).session_id
    seen = len(sim.requests(Role.WORKER))

    again = await run(
        options(sim, tmp_path, Role.WORKER, recorder, repo, tools=builtin, resume=session_id),
        "You were restarted. Confirm your result.",
    )

    resumed_request = sim.requests(Role.WORKER)[seen]
    earlier_tools = [
        block["name"]
        for message in resumed_request["messages"]
        if message["role"] == "assistant" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    ]
    assert earlier_tools == ["Write", "Write", "Bash", "mcp__orch__report_result"]
    assert "Confirm your result." in str(resumed_request["messages"][-1])
    # The simulator continues where it left off: no rewrite, a fresh check and report.
    assert tool_uses(again) == ["Bash", "mcp__orch__report_result"]
    assert [r["status"] for r in recorder.named("report_result")] == ["done", "done"]
    assert result_of(again).session_id == session_id


async def test_outage_then_recovery(sim: SimServer, tmp_path: Path) -> None:
    """A 529 outage surfaces as an error result; after recovery the session resumes."""
    repo = git_repo(tmp_path / "repo")
    recorder = Recorder()
    no_retries = {"CLAUDE_CODE_MAX_RETRIES": "0"}
    builtin = list(WORKER_BUILTIN_TOOLS)
    sim.set_faults("529:1.0")
    failed = await run(
        options(sim, tmp_path, Role.WORKER, recorder, repo, tools=builtin, extra_env=no_retries),
        work_order_prompt(repo),
    )
    outcome = result_of(failed)
    # The subtype says success; only is_error and api_error_status tell the truth.
    assert outcome.is_error is True
    assert outcome.api_error_status == 529
    assert recorder.calls == []
    assert sim.stats()["faults"] == {"529": 1}

    sim.set_faults("")
    recovered = await run(
        options(
            sim, tmp_path, Role.WORKER, recorder, repo, tools=builtin, resume=outcome.session_id
        ),
        "The service is back. Carry on.",
    )
    assert result_of(recovered).is_error is False
    assert [r["status"] for r in recorder.named("report_result")] == ["done"]
