"""The in-process MCP server through which an agent acts: one per session, per role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from claude_agent_sdk import McpSdkServerConfig, SdkMcpTool, create_sdk_mcp_server

from orchestrator.domain.roles import MCP_SERVER_NAME, ROLE_MCP_TOOLS, Role
from orchestrator.domain.tool_contracts import TOOL_DESCRIPTIONS, TOOL_SCHEMAS

from .protocol import ToolHandler, ToolReply
from .schema import validate

_log = structlog.get_logger(__name__)


async def invoke_tool(
    role: Role,
    tool: str,
    args: Any,
    handler: ToolHandler,
    log: Any = None,
) -> ToolReply:
    """Validate one tool call and hand it to ``handler``; every failure becomes a reply.

    The one path from an agent's tool call to our code, shared by the MCP server and the
    ``FakeRuntime``, so both report bad input to the agent in the same words.
    """
    log = log or _log
    if tool not in ROLE_MCP_TOOLS[role]:
        return ToolReply(False, f"tool {tool!r} is not available to the {role.value} role")
    if not isinstance(args, dict):
        return ToolReply(False, "invalid input: expected a JSON object")
    problems = validate(args, TOOL_SCHEMAS[tool])
    if problems:
        log.info("tool_input_invalid", tool=tool, problems=problems)
        return ToolReply(False, "invalid input: " + "; ".join(problems))
    try:
        reply = await handler(tool, args)
    except Exception as exc:
        # A handler bug must not kill the session silently; the agent sees an error and
        # the log has the traceback.
        log.exception("tool_handler_failed", tool=tool)
        return ToolReply(False, f"internal error while handling {tool}: {type(exc).__name__}")
    log.info("tool_called", tool=tool, ok=reply.ok)
    return reply


def reply_content(reply: ToolReply) -> dict[str, Any]:
    """A ``ToolReply`` in the shape an SDK MCP tool handler returns."""
    content: dict[str, Any] = {"content": [{"type": "text", "text": reply.text}]}
    if not reply.ok:
        content["is_error"] = True
    return content


def _make_tool(role: Role, name: str, handler: ToolHandler, log: Any) -> SdkMcpTool[dict[str, Any]]:
    async def call(args: dict[str, Any]) -> dict[str, Any]:
        return reply_content(await invoke_tool(role, name, args, handler, log))

    run: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] = call
    return SdkMcpTool(
        name=name,
        description=TOOL_DESCRIPTIONS[name],
        input_schema=TOOL_SCHEMAS[name],
        handler=run,
    )


def build_mcp_server(role: Role, handler: ToolHandler, log: Any = None) -> McpSdkServerConfig:
    """The ``orch`` server with exactly the role's tools (the CLI names them ``mcp__orch__X``)."""
    log = log or _log
    tools = [_make_tool(role, name, handler, log) for name in ROLE_MCP_TOOLS[role]]
    return create_sdk_mcp_server(name=MCP_SERVER_NAME, tools=tools)
