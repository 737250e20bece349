"""The worktree guard: path decisions and the hook callable in the SDK's hook input shape."""

from __future__ import annotations

import os
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


def test_guard_hooks_block_when_the_callback_fails(worktree: Path) -> None:
    # The second layer: should the callback itself fail, the CLI blocks the call.
    (matcher,) = guard_hooks(worktree)["PreToolUse"]
    assert matcher.on_failure == "block"
    assert matcher.timeout is not None


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("a\x00b.py", "NUL"),
        ("a\udc80.py", "surrogate"),
        ("a\nb.py", "control character"),
        ("a\rb.py", "control character"),
    ],
)
def test_paths_that_are_not_plain_are_denied(worktree: Path, path: str, why: str) -> None:
    reason = write_denial("Write", {"file_path": path}, worktree=worktree)
    assert reason is not None and why in reason


def test_git_metadata_is_never_writable(worktree: Path, tmp_path: Path) -> None:
    (worktree / ".git").write_text("gitdir: /somewhere/.git/worktrees/wt\n")
    main_git = tmp_path / "main" / ".git"
    main_git.mkdir(parents=True)
    (worktree / "sub" / ".git").mkdir(parents=True)
    (worktree / "repo_link").symlink_to(tmp_path / "main")
    for path in (".git", "./.git", "src/../.git", "sub/.git/config", ".GIT/HEAD"):
        reason = write_denial("Write", {"file_path": path}, worktree=worktree)
        assert reason is not None and ".git" in reason, path
    # The main repository's .git is outside, however it is reached.
    assert write_denial("Edit", {"file_path": "repo_link/.git/HEAD"}, worktree=worktree)
    assert write_denial("Edit", {"file_path": str(main_git / "HEAD")}, worktree=worktree)
    # A name that merely contains .git is an ordinary file.
    assert write_denial("Write", {"file_path": ".gitignore"}, worktree=worktree) is None
    assert write_denial("Write", {"file_path": "a.git/x"}, worktree=worktree) is None


def test_proc_links_are_denied(worktree: Path) -> None:
    (worktree / "cwdlink").symlink_to("/proc/self/cwd")
    for path in (
        f"/proc/{os.getpid()}/cwd/x",
        "/proc/self/root/tmp/x",
        "/proc/thread-self/cwd/x",
        "cwdlink/x",
    ):
        reason = write_denial("Write", {"file_path": path}, worktree=worktree)
        assert reason is not None and "/proc" in reason, path


def test_device_files_and_fifos_are_denied(worktree: Path) -> None:
    (worktree / "null").symlink_to("/dev/null")
    os.mkfifo(worktree / "fifo")
    assert write_denial("Write", {"file_path": "null"}, worktree=worktree)
    reason = write_denial("Write", {"file_path": "fifo"}, worktree=worktree)
    assert reason is not None and "not a regular file" in reason


def test_hard_link_to_a_file_outside_is_denied(worktree: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.write_text("keep")
    os.link(secret, worktree / "innocent.txt")
    reason = write_denial("Edit", {"file_path": "innocent.txt"}, worktree=worktree)
    assert reason is not None and "hard links" in reason
    (worktree / "plain.txt").write_text("x")
    assert write_denial("Edit", {"file_path": "plain.txt"}, worktree=worktree) is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        "Write",
        {"hook_event_name": "PreToolUse", "tool_name": "Write", "tool_input": "not an object"},
        {"hook_event_name": "PreToolUse", "tool_input": {"file_path": "a.py"}},
        {"hook_event_name": "PostToolUse", "tool_name": "Write", "tool_input": {}},
        {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "x"}},
    ],
)
async def test_unexpected_hook_input_is_denied(worktree: Path, data: Any) -> None:
    out = await make_worktree_guard(worktree)(data, "toolu_1", {"signal": None})
    assert dict(out)["hookSpecificOutput"]["permissionDecision"] == "deny"  # type: ignore[typeddict-item]


async def test_a_raising_policy_denies_with_the_reason(worktree: Path) -> None:
    def broken(*_: Any, **__: Any) -> str | None:
        raise OSError("disk on fire")

    guard = make_worktree_guard(worktree, policy=broken)
    out = await _call(guard, _hook_input("Write", {"file_path": "a.py", "content": ""}, worktree))
    specific = out["hookSpecificOutput"]
    assert specific["permissionDecision"] == "deny"
    assert "disk on fire" in specific["permissionDecisionReason"]


async def test_a_raising_logger_still_denies(worktree: Path) -> None:
    class Broken:
        def warning(self, *_: Any, **__: Any) -> None:
            raise RuntimeError("log sink gone")

    guard = make_worktree_guard(worktree, Broken())
    out = await _call(guard, _hook_input("Write", {"file_path": "/etc/x", "content": ""}, worktree))
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"
