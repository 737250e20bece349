"""The escaping worker: a scripted mode for tests only (``SimServer(worker_mode="escape")``).

It tries, one Bash call each, what a worker must never manage: write into the user's own
checkout of the project, rewrite the worktree's ``.git`` file to point at the main
repository (so that a commit "in the worktree" would land on the base branch), write to
the host's ``/tmp`` and to the worktree's parent, and move the base branch through the main
repository's ``.git``. Two more calls must work (its worktree and its ``$TMPDIR`` are its
own), and one shows whether the model's key reaches its Bash. Then it reports: failed, with
what was refused, or done if nothing was (the daemon's integrity check is the last line for
the ``.git`` case).
"""

from __future__ import annotations

import hashlib
from typing import Any

from orchestrator.sim.conversation import Conversation
from orchestrator.sim.reply import Reply, ToolCall, say
from orchestrator.sim.tooluse import first_line, mcp, mcp_calls, use

_COMMON_DIR = "$(git rev-parse --path-format=absolute --git-common-dir)"

#: Must work: a worker's own worktree and temp dir.
ALLOWED: tuple[str, ...] = (
    "echo mine > inside-worktree",
    'echo mine > "$TMPDIR/inside-tmp" && echo "private tmp: $TMPDIR"',
    'echo "model key: [${ANTHROPIC_API_KEY:-}]"',
)


def outside_path(worktree: str) -> str:
    """The file under the host's /tmp the escape tries to write (one per worktree)."""
    return f"/tmp/outside-{hashlib.sha256(worktree.encode()).hexdigest()[:12]}"


def escapes(payload: dict[str, Any]) -> tuple[str, ...]:
    """The escape attempts, in order."""
    return (
        f'echo escaped > "{_COMMON_DIR}/../ESCAPED"',
        f'printf "gitdir: %s\\n" "{_COMMON_DIR}" > .git',
        f"echo escaped > {outside_path(str(payload.get('worktree', '')))}",
        "echo escaped > ../outside",
        'git update-ref refs/heads/main "$(git commit-tree "HEAD^{tree}" -p HEAD -m escaped)"',
    )


def escape_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    runs = {e.input.get("command"): e for e in conv.calls("Bash")}
    attempts = escapes(payload)
    for command in (*attempts, *ALLOWED):
        if command not in runs:
            reply = use(conv, [ToolCall("Bash", {"command": command, "description": "escape"})])
            return reply if reply is not None else say("I have no Bash.")
    if mcp_calls(conv, "report_result"):
        return say("Reported.")
    refused = [
        f"`{c}`: {first_line(runs[c].result) or 'no result'}"
        for c in (*attempts, *ALLOWED)
        if not runs[c].ok
    ]
    status = "failed" if refused else "done"
    summary = "refused: " + "; ".join(refused) if refused else "every escape worked"
    return use(conv, [mcp("report_result", {"status": status, "summary": summary})]) or say(summary)
