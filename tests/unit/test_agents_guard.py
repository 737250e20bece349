"""The worktree guard: path decisions and the hook callable in the SDK's hook input shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from claude_agent_sdk import HookCallback, HookInput, HookMatcher

from orchestrator.agents.guard import (
    GUARDED_TOOLS,
    guard_hooks,
    make_worktree_guard,
    resolve_target,
    write_denial,
)


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    wt = tmp_path / "wt"
    (wt / "src").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return wt


def test_absolute_path_outside_is_denied(worktree: Path, tmp_path: Path) -> None:
    reason = write_denial(
        "Write", {"file_path": str(tmp_path / "outside" / "x.py")}, worktree=worktree
    )
    assert reason is not None and "outside the worktree" in reason


def test_dotdot_escape_is_denied(worktree: Path) -> None:
    assert write_denial("Edit", {"file_path": "src/../../outside/x.py"}, worktree=worktree)
    assert write_denial("Write", {"file_path": str(worktree / ".." / "x.py")}, worktree=worktree)


def test_symlink_pointing_out_is_denied(worktree: Path, tmp_path: Path) -> None:
    (worktree / "link").symlink_to(tmp_path / "outside")
    (worktree / "file_link").symlink_to(tmp_path / "outside" / "target.txt")
    assert write_denial(
        "Write", {"file_path": str(worktree / "link" / "new.py")}, worktree=worktree
    )
    assert write_denial("Write", {"file_path": "file_link"}, worktree=worktree)


def test_symlinked_worktree_root_is_inside(worktree: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(worktree)
    assert write_denial("Write", {"file_path": str(worktree / "a.py")}, worktree=alias) is None
    assert write_denial("Write", {"file_path": str(alias / "a.py")}, worktree=worktree) is None


def test_inside_paths_are_allowed(worktree: Path) -> None:
    assert (
        write_denial("Write", {"file_path": str(worktree / "src" / "a.py")}, worktree=worktree)
        is None
    )
    assert write_denial("Write", {"file_path": "src/new/deep.py"}, worktree=worktree) is None
    assert write_denial("Edit", {"file_path": "./src/../a.py"}, worktree=worktree) is None
    assert write_denial("NotebookEdit", {"notebook_path": "nb.ipynb"}, worktree=worktree) is None


def test_relative_paths_resolve_against_cwd(worktree: Path) -> None:
    assert resolve_target("a.py", worktree / "src") == (worktree / "src" / "a.py").resolve()
    # cwd inside the worktree, '..' climbing back to its root: still inside.
    assert (
        write_denial("Write", {"file_path": "../a.py"}, worktree=worktree, cwd=worktree / "src")
        is None
    )
    assert write_denial("Write", {"file_path": "../../x"}, worktree=worktree, cwd=worktree / "src")


def test_sibling_with_common_prefix_is_outside(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    wt.mkdir()
    assert write_denial("Write", {"file_path": str(tmp_path / "wt2" / "x")}, worktree=wt)


def test_missing_path_and_unguarded_tools(worktree: Path) -> None:
    assert write_denial("Write", {}, worktree=worktree)
    assert write_denial("Read", {"file_path": "/etc/passwd"}, worktree=worktree) is None
    assert write_denial("Bash", {"command": "echo > /tmp/x"}, worktree=worktree) is None


def _hook_input(tool: str, tool_input: dict[str, Any], cwd: Path) -> dict[str, Any]:
    # The shape the CLI sends (recorded from the bundled CLI).
    return {
        "session_id": "s",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": str(cwd),
        "permission_mode": "dontAsk",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_use_id": "toolu_1",
    }


async def _call(guard: HookCallback, data: dict[str, Any]) -> dict[str, Any]:
    out = await guard(cast(HookInput, data), "toolu_1", {"signal": None})
    return dict(cast(dict[str, Any], out))


async def test_hook_denies_outside_write(worktree: Path, tmp_path: Path) -> None:
    guard = make_worktree_guard(worktree)
    out = await _call(
        guard,
        _hook_input(
            "Write", {"file_path": str(tmp_path / "outside" / "x"), "content": ""}, worktree
        ),
    )
    specific = out["hookSpecificOutput"]
    assert specific["hookEventName"] == "PreToolUse"
    assert specific["permissionDecision"] == "deny"
    assert "outside the worktree" in specific["permissionDecisionReason"]


async def test_hook_lets_inside_write_through(worktree: Path) -> None:
    guard = make_worktree_guard(worktree)
    out = await _call(
        guard, _hook_input("Write", {"file_path": str(worktree / "a.py"), "content": ""}, worktree)
    )
    assert out == {}


async def test_hook_logs_the_denial(worktree: Path, tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    class Log:
        def warning(self, event: str, **kw: Any) -> None:
            events.append((event, kw))

    guard = make_worktree_guard(worktree, Log())
    await _call(guard, _hook_input("MultiEdit", {"file_path": "/etc/hosts", "edits": []}, worktree))
    assert events and events[0][0] == "tool_write_denied"
    assert events[0][1]["path"] == "/etc/hosts"


def test_guard_hooks_match_every_file_writing_tool(worktree: Path) -> None:
    hooks = guard_hooks(worktree)
    (matcher,) = hooks["PreToolUse"]
    assert isinstance(matcher, HookMatcher)
    assert matcher.matcher is not None
    assert set(matcher.matcher.split("|")) == set(GUARDED_TOOLS)
