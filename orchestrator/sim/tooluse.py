"""Calling a tool only when the request offers it, loading deferred tools with ToolSearch first.

Without an explicit ``tools`` list the CLI defers MCP tools: their names appear in a reminder
and their schemas load only after a ``ToolSearch`` call with ``select:NAME``. A careful model
never calls a tool that is not in the request's ``tools``; neither does the simulator.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from orchestrator.domain.roles import mcp_tool_name
from orchestrator.sim.conversation import Conversation, Exchange
from orchestrator.sim.reply import Reply, ToolCall, say

TOOL_SEARCH = "ToolSearch"


class Access(Enum):
    READY = "ready"
    SEARCH = "search"
    ABSENT = "absent"


def access(conv: Conversation, name: str) -> Access:
    if name in conv.tools:
        return Access.READY
    searched = any(
        name in str(e.input.get("query", "")) for e in conv.calls(TOOL_SEARCH, current=False)
    )
    if TOOL_SEARCH in conv.tools and name in conv.deferred_tools and not searched:
        return Access.SEARCH
    return Access.ABSENT


def use(conv: Conversation, calls: list[ToolCall], text: str = "") -> Reply | None:
    """A reply making ``calls``, or a ToolSearch that loads them first; None if one is absent."""
    states = {c.name: access(conv, c.name) for c in calls}
    if any(s is Access.ABSENT for s in states.values()):
        return None
    to_load = sorted(n for n, s in states.items() if s is Access.SEARCH)
    if to_load:
        query = {"query": "select:" + ",".join(to_load), "max_results": len(to_load)}
        return Reply(text=text, calls=(ToolCall(TOOL_SEARCH, query),))
    return Reply(text=text, calls=tuple(calls))


def mcp(tool: str, tool_input: dict[str, Any]) -> ToolCall:
    return ToolCall(mcp_tool_name(tool), tool_input)


def mcp_calls(conv: Conversation, tool: str) -> list[Exchange]:
    """The current prompt's calls of one of our MCP tools."""
    return conv.calls(mcp_tool_name(tool))


def first_line(text: str | None, limit: int = 300) -> str:
    """A short, single-line excerpt of a tool result (reminders the CLI appends cut off)."""
    if not text:
        return ""
    body = text.split("<system-reminder>", 1)[0].strip()
    line = " ".join(body.split())
    return line[:limit]


def decide_once(
    conv: Conversation,
    tool: str,
    tool_input: dict[str, Any],
    *,
    done_text: str,
    intro: str = "",
) -> Reply:
    """The decision roles' shape: one tool call per prompt, then a closing text.

    A failed call ends the turn with the error quoted: these roles have nothing better to try
    (the organizer and the project agent retry in their own modules). A call without a result
    (the session was cut off mid-call) is made again.
    """
    made = [e for e in mcp_calls(conv, tool) if e.result is not None]
    if made:
        last = made[-1]
        if last.ok:
            return say(done_text)
        return say(f"{tool} was rejected: {first_line(last.result)}")
    reply = use(conv, [mcp(tool, tool_input)], text=intro)
    if reply is None:
        return say(f"The {tool} tool is not available to me, so I cannot record my decision.")
    return reply
