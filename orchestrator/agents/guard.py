"""The worktree guard: a PreToolUse hook that denies file writes outside the run's worktree.

``permission_mode="dontAsk"`` plus the allow-list decides *which* tools run; this hook
decides *where* the file tools may write. Paths are resolved the way the OS will see them:
relative against the session's cwd, ``..`` collapsed and symlinks followed (a link inside
the worktree that points out is outside).

Known limitation: Bash is allowed for workers and is not confined (a shell command can
write anywhere the OS user can). The daemon's containment for Bash is the OS (run the
daemon as a user that owns little), not this hook.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog
from claude_agent_sdk import HookCallback, HookContext, HookInput, HookJSONOutput, HookMatcher

_log = structlog.get_logger(__name__)

#: File-writing tools of Claude Code and the input field that names their target.
GUARDED_TOOLS: dict[str, str] = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}


def resolve_target(path: str, cwd: Path) -> Path:
    """The real path a tool would write: relative to ``cwd``, ``..`` and symlinks resolved.

    ``realpath`` resolves the existing part of the path and keeps the rest, so a new file
    under a symlinked directory still resolves through the link.
    """
    expanded = os.path.expanduser(path)
    joined = expanded if os.path.isabs(expanded) else os.path.join(cwd, expanded)
    return Path(os.path.realpath(joined))


def is_inside(target: Path, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, str(target)]) == real_root


def write_denial(
    tool_name: str, tool_input: dict[str, Any], *, worktree: Path, cwd: Path | None = None
) -> str | None:
    """Why this tool call must be denied, or None when it may go ahead."""
    field = GUARDED_TOOLS.get(tool_name)
    if field is None:
        return None
    raw = tool_input.get(field)
    if not isinstance(raw, str) or not raw:
        return f"{tool_name} needs a {field} inside the worktree {worktree}"
    target = resolve_target(raw, cwd or worktree)
    if is_inside(target, worktree):
        return None
    return (
        f"{tool_name} denied: {raw} resolves to {target}, outside the worktree {worktree}. "
        "Only files inside the worktree may be written."
    )


def make_worktree_guard(worktree: Path, log: Any = None) -> HookCallback:
    """The PreToolUse hook callback for one session's worktree."""
    log = log or _log
    root = Path(os.path.realpath(worktree))

    async def guard(
        input_data: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        data: dict[str, Any] = dict(input_data)
        tool_name = str(data.get("tool_name", ""))
        tool_input = data.get("tool_input")
        if not isinstance(tool_input, dict):
            tool_input = {}
        cwd_value = data.get("cwd")
        cwd = Path(cwd_value) if isinstance(cwd_value, str) and cwd_value else root
        reason = write_denial(tool_name, tool_input, worktree=root, cwd=cwd)
        if reason is None:
            return {}
        log.warning(
            "tool_write_denied",
            tool=tool_name,
            path=tool_input.get(GUARDED_TOOLS[tool_name]),
            worktree=str(root),
            tool_use_id=tool_use_id,
        )
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    return guard


def guard_hooks(worktree: Path, log: Any = None) -> dict[Any, list[HookMatcher]]:
    """``ClaudeAgentOptions.hooks`` value installing the guard on every file-writing tool."""
    matcher = "|".join(GUARDED_TOOLS)
    return {
        "PreToolUse": [HookMatcher(matcher=matcher, hooks=[make_worktree_guard(worktree, log)])]
    }
