"""What ClaudeRuntime hands the SDK, checked without starting a CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.agents import AgentRuntime, ClaudeRuntime, Limits, SessionSpec, ToolReply
from orchestrator.agents.processes import OWNER_ENV, TOKEN_ENV
from orchestrator.domain.roles import MCP_SERVER_NAME, Role, allowed_tools


async def _handler(tool: str, args: dict[str, Any]) -> ToolReply:
    return ToolReply(True, "ok")


def _spec(tmp_path: Path, role: Role, **kw: Any) -> SessionSpec:
    return SessionSpec(
        role=role,
        system_prompt="orchestrator-role: x",
        user_prompt="u",
        cwd=tmp_path,
        tool_handler=_handler,
        **kw,
    )


def test_claude_runtime_satisfies_the_protocol() -> None:
    assert isinstance(ClaudeRuntime(), AgentRuntime)


def test_decision_roles_get_no_builtin_tools(tmp_path: Path) -> None:
    for role in (Role.GLOBAL, Role.PROJECT, Role.ORGANIZER, Role.JUDGE):
        options = ClaudeRuntime().options_for(_spec(tmp_path, role), token="t")
        assert options.tools == []
        assert options.allowed_tools == allowed_tools(role)
        assert all(t.startswith("mcp__orch__") for t in options.allowed_tools)
        assert {"Write", "Edit", "Bash"} <= set(options.disallowed_tools)


def test_worker_gets_its_builtins_and_the_guard(tmp_path: Path) -> None:
    options = ClaudeRuntime().options_for(_spec(tmp_path, Role.WORKER), token="t")
    assert options.tools == ["Read", "Write", "Edit", "Glob", "Grep", "Bash"]
    assert "mcp__orch__report_result" in options.allowed_tools
    assert options.permission_mode == "dontAsk"
    assert options.hooks is not None and "PreToolUse" in options.hooks
    assert list(options.mcp_servers) == [MCP_SERVER_NAME]  # type: ignore[arg-type]
    assert options.strict_mcp_config is True
    assert options.setting_sources == []


def test_env_limits_and_resume(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        Role.WORKER,
        resume="sid",
        config_dir=tmp_path / "cfg",
        env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:1", "CLAUDE_CODE_MAX_RETRIES": "2"},
        limits=Limits(max_turns=7, max_cost_usd=1.5),
        model="claude-sonnet-4-5",
    )
    options = ClaudeRuntime(owner="home-a").options_for(spec, token="tok")
    env = options.env
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "cfg")
    assert (tmp_path / "cfg").is_dir()
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "2"  # the caller's choice wins
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env[OWNER_ENV] == "home-a" and env[TOKEN_ENV] == "tok"
    assert options.resume == "sid"
    assert options.max_turns == 7 and options.max_budget_usd == 1.5
    assert options.model == "claude-sonnet-4-5"


def test_the_cli_retries_once_by_default(tmp_path: Path) -> None:
    # One retry: its api_retry message is how the server's retry-after reaches us.
    env = ClaudeRuntime().options_for(_spec(tmp_path, Role.JUDGE), token="t").env
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "1"
    env = (
        ClaudeRuntime(cli_max_retries=None).options_for(_spec(tmp_path, Role.JUDGE), token="t").env
    )
    assert "CLAUDE_CODE_MAX_RETRIES" not in env
