"""The worktree guard: a PreToolUse hook that denies file writes outside the run's worktree.

``permission_mode="dontAsk"`` plus the allow-list decides *which* tools run; this hook
decides *where* the file tools may write. Paths are resolved the way the OS will see them:
relative against the session's cwd, ``..`` collapsed and symlinks followed (a link inside
the worktree that points out is outside).

The guard fails closed, twice over: the callback turns any exception or unexpected input
into a denial with a reason, and its ``HookMatcher`` sets ``on_failure="block"`` so that a
callback that still fails (raises past us, times out, returns garbage) blocks the call in
the CLI instead of letting it through.

Besides "outside the worktree", a write is denied when the path is not a plain path (NUL,
a lone surrogate, a newline or other control character), reaches into ``/proc`` (its
``<pid>/root`` and ``<pid>/cwd`` links reach the whole file system), names anything under a ``.git``
(the worktree's ``.git`` file points git at the repository; rewriting it would turn a
commit "in the worktree" into a commit on the base branch), or targets an existing file
that is not a regular file (a device, a fifo) or that has other hard links (one of them
may be outside, and a write through either changes both).

Bash is not covered here: workers' shell commands run in the OS sandbox (``sandbox``).
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable
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

#: Directory name no agent tool may write under (compared case-insensitively: git itself
#: refuses ``.GIT`` in trees for the sake of case-insensitive file systems).
GIT_DIR_NAME = ".git"

#: Seconds the CLI waits for the guard before the call counts as a failure (so: blocked).
GUARD_TIMEOUT_S = 30.0

#: Symlinks followed while looking for ``/proc`` before giving up (and denying), as the OS.
_MAX_SYMLINK_HOPS = 40

#: ``(tool_name, tool_input, worktree=, cwd=) -> reason or None``: the guard's decision.
WritePolicy = Callable[..., "str | None"]


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


def unsafe_characters(path: str) -> str | None:
    """What makes ``path`` not a plain path, or None (NUL, surrogates, control characters)."""
    if "\x00" in path:
        return "a NUL byte"
    for char in path:
        category = unicodedata.category(char)
        if category == "Cs":
            return "a lone surrogate"
        if category == "Cc":
            return f"the control character {char!r}"
    return None


def _reaches_proc(path: str) -> bool:
    """True when resolving ``path`` (absolute) touches ``/proc``, through any symlink.

    ``/proc/<pid>/root`` and ``/cwd`` are magic links that resolve per process: the CLI
    would see its own, ``realpath`` here sees the daemon's. So they are refused outright,
    and the symlinks are walked one by one (in the OS's order: a link before its ``..``).
    """
    pending = list(reversed(Path(path).parts))
    current = Path("/")
    hops = 0
    while pending:
        part = pending.pop()
        if part == "/":
            current = Path("/")
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        if candidate.parts[:2] == ("/", "proc"):
            return True
        if candidate.is_symlink():
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                return True
            pending.extend(reversed(Path(os.readlink(candidate)).parts))
            continue
        current = candidate
    return False


def _under_git(target: Path, root: Path) -> bool:
    real_root = Path(os.path.realpath(root))
    if not target.is_relative_to(real_root):
        return False  # outside: the worktree check's business
    return any(part.lower() == GIT_DIR_NAME for part in target.relative_to(real_root).parts)


def _existing_file_problem(target: Path) -> str | None:
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink > 1:
        return f"has {info.st_nlink} hard links (one may be outside the worktree)"
    return None


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
    bad = unsafe_characters(raw)
    if bad is not None:
        return f"{tool_name} denied: the path contains {bad}."
    base = cwd or worktree
    joined = os.path.abspath(os.path.join(base, os.path.expanduser(raw)))
    if _reaches_proc(joined):
        return f"{tool_name} denied: {raw} reaches into /proc."
    target = resolve_target(raw, base)
    if not is_inside(target, worktree):
        return (
            f"{tool_name} denied: {raw} resolves to {target}, outside the worktree {worktree}. "
            "Only files inside the worktree may be written."
        )
    if _under_git(target, worktree):
        return f"{tool_name} denied: {raw} is under .git; git metadata is not for agents."
    problem = _existing_file_problem(target)
    if problem is not None:
        return f"{tool_name} denied: {raw} {problem}."
    return None


def _deny(reason: str) -> HookJSONOutput:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }


def _decide(data: Any, root: Path, policy: WritePolicy) -> tuple[str, Any, str | None]:
    """``(tool, path, reason)`` for one hook input; raises on input we cannot read."""
    if not isinstance(data, dict):
        raise TypeError(f"hook input is a {type(data).__name__}, not an object")
    if data.get("hook_event_name", "PreToolUse") != "PreToolUse":
        raise ValueError(f"unexpected hook event {data.get('hook_event_name')!r}")
    tool_name = data.get("tool_name")
    tool_input = data.get("tool_input")
    if not isinstance(tool_name, str) or not isinstance(tool_input, dict):
        raise TypeError("hook input lacks a tool_name string and a tool_input object")
    cwd_value = data.get("cwd")
    cwd = Path(cwd_value) if isinstance(cwd_value, str) and cwd_value else root
    path = tool_input.get(GUARDED_TOOLS.get(tool_name, ""))
    if tool_name not in GUARDED_TOOLS:
        # The matcher names only guarded tools: anything else here is unexpected.
        return tool_name, path, f"{tool_name} is not a tool the worktree guard knows"
    return tool_name, path, policy(tool_name, tool_input, worktree=root, cwd=cwd)


def make_worktree_guard(
    worktree: Path, log: Any = None, policy: WritePolicy = write_denial
) -> HookCallback:
    """The PreToolUse hook callback for one session's worktree (it never raises)."""
    log = log or _log
    root = Path(os.path.realpath(worktree))

    async def guard(
        input_data: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        try:
            tool_name, path, reason = _decide(input_data, root, policy)
        except Exception as exc:  # fail closed: whatever went wrong, the write does not happen
            reason = f"denied: the worktree guard could not check this call ({exc!r})"
            _log_denial(log, "tool_guard_failed", "?", None, root, tool_use_id, reason)
            return _deny(reason)
        if reason is None:
            return {}
        _log_denial(log, "tool_write_denied", tool_name, path, root, tool_use_id, reason)
        return _deny(reason)

    return guard


def _log_denial(
    log: Any, event: str, tool: str, path: Any, root: Path, tool_use_id: str | None, reason: str
) -> None:
    try:
        log.warning(
            event, tool=tool, path=path, worktree=str(root), tool_use_id=tool_use_id, reason=reason
        )
    except Exception:  # a broken logger must not turn a denial into a failure
        _log.warning(event, tool=tool, worktree=str(root), reason=reason)


def guard_hooks(
    worktree: Path, log: Any = None, policy: WritePolicy = write_denial
) -> dict[Any, list[HookMatcher]]:
    """``ClaudeAgentOptions.hooks`` value installing the guard on every file-writing tool."""
    matcher = "|".join(GUARDED_TOOLS)
    hook = make_worktree_guard(worktree, log, policy)
    return {
        "PreToolUse": [
            HookMatcher(matcher=matcher, hooks=[hook], timeout=GUARD_TIMEOUT_S, on_failure="block")
        ]
    }
