"""MCP tools: schema validation, error replies to the agent, the server the SDK gets."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from orchestrator.agents import ToolReply, build_mcp_server, invoke_tool
from orchestrator.agents.mcp_tools import reply_content
from orchestrator.agents.schema import unsupported_keywords, validate
from orchestrator.domain.roles import MCP_SERVER_NAME, ROLE_MCP_TOOLS, Role
from orchestrator.domain.tool_contracts import TOOL_SCHEMAS


class RecordingHandler:
    def __init__(self, reply: ToolReply | None = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reply = reply or ToolReply(True, "recorded")
        self.error = error

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        self.calls.append((tool, args))
        if self.error is not None:
            raise self.error
        return self.reply


@pytest.mark.parametrize("tool", sorted(TOOL_SCHEMAS))
def test_every_contract_uses_only_enforced_keywords(tool: str) -> None:
    assert unsupported_keywords(TOOL_SCHEMAS[tool]) == []


def test_validator_reports_paths_and_reasons() -> None:
    schema = TOOL_SCHEMAS["set_track_priorities"]
    problems = validate({"weights": [{"track_id": 1, "weight": -1}, {}]}, schema)
    assert problems == [
        "input: missing required field 'reason'",
        "weights[0].track_id: expected string, got integer",
        "weights[0].weight: -1 is less than the minimum 0",
        "weights[1]: missing required field 'track_id'",
        "weights[1]: missing required field 'weight'",
    ]


def test_validator_types() -> None:
    assert validate(True, {"type": "number"}) == ["input: expected number, got boolean"]
    assert validate(2.0, {"type": "integer"}) == []
    assert validate(None, {"type": ["string", "null"]}) == []
    assert validate(6, {"type": "integer", "maximum": 5}) == ["input: 6 is more than the maximum 5"]
    assert validate("x", {"enum": ["done", "failed"]}) == [
        "input: 'x' is not one of 'done', 'failed'"
    ]


async def test_valid_call_reaches_the_handler() -> None:
    handler = RecordingHandler(ToolReply(True, "queued"))
    args = {"track_id": "T1", "wo_ids": ["WO-2025-001"], "reason": "first"}
    reply = await invoke_tool(Role.PROJECT, "choose_work_orders", args, handler)
    assert reply == ToolReply(True, "queued")
    assert handler.calls == [("choose_work_orders", args)]


async def test_invalid_input_is_an_error_reply_and_skips_the_handler() -> None:
    handler = RecordingHandler()
    reply = await invoke_tool(Role.WORKER, "report_result", {"status": "great"}, handler)
    assert not reply.ok
    assert "missing required field 'summary'" in reply.text
    assert "'great' is not one of" in reply.text
    assert handler.calls == []


async def test_tool_of_another_role_is_refused() -> None:
    handler = RecordingHandler()
    reply = await invoke_tool(
        Role.WORKER, "pick_winner", {"winner_track_id": "a", "reason": "b"}, handler
    )
    assert not reply.ok and "not available to the worker role" in reply.text
    assert handler.calls == []


async def test_non_object_input_is_refused() -> None:
    reply = await invoke_tool(Role.JUDGE, "pick_winner", ["a"], RecordingHandler())
    assert not reply.ok


async def test_handler_rejection_and_crash_become_error_replies() -> None:
    args = {"winner_track_id": "a", "reason": "b"}
    rejected = await invoke_tool(
        Role.JUDGE, "pick_winner", args, RecordingHandler(ToolReply(False, "no such track"))
    )
    assert rejected == ToolReply(False, "no such track")
    crashed = await invoke_tool(
        Role.JUDGE, "pick_winner", args, RecordingHandler(error=RuntimeError("db"))
    )
    assert not crashed.ok and "internal error" in crashed.text


def test_reply_content_shape() -> None:
    assert reply_content(ToolReply(True, "ok")) == {"content": [{"type": "text", "text": "ok"}]}
    assert reply_content(ToolReply(False, "bad")) == {
        "content": [{"type": "text", "text": "bad"}],
        "is_error": True,
    }


async def _rpc(bridge: Any, method: str, params: dict[str, Any], rid: int) -> dict[str, Any]:
    response = await bridge.handle(
        {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    )
    assert response is not None
    return dict(response)


@pytest.mark.parametrize("role", list(Role))
async def test_server_exposes_exactly_the_roles_tools(role: Role) -> None:
    # Through the SDK's own in-process bridge: the JSON-RPC the CLI would send.
    from claude_agent_sdk._internal.sdk_mcp_bridge import SdkMcpBridge

    handler = RecordingHandler()
    config = build_mcp_server(role, handler)
    assert config["type"] == "sdk" and config["name"] == MCP_SERVER_NAME
    bridge = SdkMcpBridge(MCP_SERVER_NAME, config["instance"])
    try:
        with anyio.fail_after(10):
            await _rpc(
                bridge,
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"},
                },
                1,
            )
            await bridge.handle({"jsonrpc": "2.0", "method": "notifications/initialized"})
            listed = await _rpc(bridge, "tools/list", {}, 2)
            tools = listed["result"]["tools"]
            assert sorted(t["name"] for t in tools) == sorted(ROLE_MCP_TOOLS[role])
            for t in tools:
                assert t["inputSchema"] == TOOL_SCHEMAS[t["name"]]
                assert t["description"]

            # A bad call comes back as an error result the agent can read, not an exception.
            tool = ROLE_MCP_TOOLS[role][0]
            called = await _rpc(bridge, "tools/call", {"name": tool, "arguments": {"bogus": 1}}, 3)
            assert called["result"]["isError"] is True
            assert handler.calls == []
    finally:
        await bridge.aclose()


async def test_server_call_reaches_the_handler() -> None:
    from claude_agent_sdk._internal.sdk_mcp_bridge import SdkMcpBridge

    handler = RecordingHandler(ToolReply(False, "no such track"))
    bridge = SdkMcpBridge(MCP_SERVER_NAME, build_mcp_server(Role.JUDGE, handler)["instance"])
    try:
        with anyio.fail_after(10):
            await _rpc(
                bridge,
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"},
                },
                1,
            )
            args = {"winner_track_id": "T9", "reason": "fastest"}
            called = await _rpc(bridge, "tools/call", {"name": "pick_winner", "arguments": args}, 2)
    finally:
        await bridge.aclose()
    assert handler.calls == [("pick_winner", args)]
    assert called["result"]["isError"] is True
    assert called["result"]["content"][0]["text"] == "no such track"
