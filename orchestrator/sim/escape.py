"""The escaping worker: a scripted mode for tests only (``SimServer(worker_mode="escape")``).

It tries, one Bash call each, what a worker must never manage: write into the user's own
checkout of the project, and rewrite the worktree's ``.git`` file to point at the main
repository (so that a commit "in the worktree" would land on the base branch). Then it
reports: failed, with what was refused, or done if nothing was (the daemon's integrity
check is the last line for the ``.git`` case).
"""

from __future__ import annotations

from typing import Any

from orchestrator.sim.conversation import Conversation
from orchestrator.sim.reply import Reply, ToolCall, say
from orchestrator.sim.tooluse import first_line, mcp, mcp_calls, use

_COMMON_DIR = "$(git rev-parse --path-format=absolute --git-common-dir)"

#: The escape attempts, in order.
ATTEMPTS: tuple[str, ...] = (
    f'echo escaped > "{_COMMON_DIR}/../ESCAPED"',
    f'printf "gitdir: %s\\n" "{_COMMON_DIR}" > .git',
)


def escape_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    runs = {e.input.get("command"): e for e in conv.calls("Bash")}
    for command in ATTEMPTS:
        if command not in runs:
            reply = use(conv, [ToolCall("Bash", {"command": command, "description": "escape"})])
            return reply if reply is not None else say("I have no Bash.")
    if mcp_calls(conv, "report_result"):
        return say("Reported.")
    refused = [
        f"`{c}`: {first_line(runs[c].result) or 'no result'}" for c in ATTEMPTS if not runs[c].ok
    ]
    status = "failed" if refused else "done"
    summary = "refused: " + "; ".join(refused) if refused else "every escape worked"
    return use(conv, [mcp("report_result", {"status": status, "summary": summary})]) or say(summary)
