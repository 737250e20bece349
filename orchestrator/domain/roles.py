"""Agent roles and the tools each role may use."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    GLOBAL = "global"
    PROJECT = "project"
    WORKER = "worker"
    ORGANIZER = "organizer"
    JUDGE = "judge"


#: Name of the in-process MCP server every role's tools live on. The CLI exposes a tool
#: ``X`` of this server as ``mcp__orch__X``.
MCP_SERVER_NAME = "orch"

#: Built-in Claude Code tools a worker may use inside its worktree.
WORKER_BUILTIN_TOOLS: tuple[str, ...] = ("Read", "Write", "Edit", "Glob", "Grep", "Bash")

#: The MCP tools of each role (bare names, without the ``mcp__orch__`` prefix).
ROLE_MCP_TOOLS: dict[Role, tuple[str, ...]] = {
    Role.GLOBAL: ("set_track_priorities", "set_track_budget"),
    Role.PROJECT: ("choose_work_orders", "create_work_order", "report_track_progress"),
    Role.WORKER: ("report_result",),
    Role.ORGANIZER: ("propose_tracks",),
    Role.JUDGE: ("pick_winner",),
}


def mcp_tool_name(tool: str) -> str:
    """The name under which the CLI exposes one of our MCP tools."""
    return f"mcp__{MCP_SERVER_NAME}__{tool}"


def allowed_tools(role: Role) -> list[str]:
    """The explicit allow-list for a role: decision roles get only their MCP tools."""
    tools = [mcp_tool_name(t) for t in ROLE_MCP_TOOLS[role]]
    if role is Role.WORKER:
        tools = list(WORKER_BUILTIN_TOOLS) + tools
    return tools
