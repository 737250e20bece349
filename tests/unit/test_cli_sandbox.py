"""The settings of Claude Code's sandbox for workers' Bash, and the CLI env that goes with them.

What these settings do in the real CLI is tested end to end by
``tests/integration/test_sandbox_escape.py``; here: which paths they deny, and that a
sandboxed worker goes without the env scrub and with its own temp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.agents.cli_sandbox import MODEL_CREDENTIALS, cli_sandbox_settings, deny_around
from orchestrator.agents.options import (
    SCRUB_ENV,
    TMPDIR_ENV,
    CliSettings,
    cli_env,
    session_options,
    session_temp_dir,
)
from orchestrator.agents.protocol import SessionSpec, ToolReply
from orchestrator.domain.roles import Role


async def _handler(tool: str, args: dict[str, Any]) -> ToolReply:
    return ToolReply(True, "ok")


def _spec(cwd: Path, role: Role = Role.WORKER, protected: tuple[Path, ...] = ()) -> SessionSpec:
    return SessionSpec(
        role=role,
        system_prompt="s",
        user_prompt="u",
        cwd=cwd,
        tool_handler=_handler,
        protected=protected,
    )


def test_a_protected_dir_holding_a_kept_one_is_denied_around_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for name in ("logs", "tmp/run-a", "tmp/run-b"):
        (state / name).mkdir(parents=True)
    (state / "orchestrator.db").touch()
    kept = state / "tmp" / "run-a"
    denied = deny_around([state, tmp_path / "config"], [kept])
    assert denied == [
        str(state / "logs"),
        str(state / "orchestrator.db"),
        str(state / "tmp" / "run-b"),
        str(tmp_path / "config"),
    ]
    # Never the kept path itself, nor anything holding it (a deny there would win).
    assert deny_around([kept], [kept]) == []
    assert not any(kept.is_relative_to(p) for p in deny_around([tmp_path], [kept]))


def test_the_settings_deny_the_checkout_the_git_file_and_the_clis_own_defaults(
    tmp_path: Path,
) -> None:
    worktree, checkout, home = tmp_path / "ws" / "wt", tmp_path / "repo", tmp_path / "home"
    worktree.mkdir(parents=True)
    checkout.mkdir()
    (home / ".npm" / "_logs").mkdir(parents=True)
    temp = tmp_path / "orch-tmp"
    settings = cli_sandbox_settings(("pypi.org",), worktree, temp, (checkout,), home=home)
    deny = settings["filesystem"]["denyWrite"]
    assert str(checkout) in deny and str(worktree / ".git") in deny
    assert str(home / ".npm" / "_logs") in deny
    # What the CLI opens only when it exists is denied only then (a deny of a missing
    # path would make bubblewrap create its mount point).
    assert str(home / ".claude" / "debug") not in deny
    assert not any(Path(p) in (worktree, temp, worktree.parent) for p in deny)
    assert settings["allowUnsandboxedCommands"] is False
    assert settings["network"] == {"allowedDomains": ["pypi.org"]}
    denied_env = {e["name"] for e in settings["credentials"]["envVars"] if e["mode"] == "deny"}
    assert denied_env == set(MODEL_CREDENTIALS)


def test_a_sandboxed_worker_has_no_env_scrub_and_its_own_temp_dir(tmp_path: Path) -> None:
    cli = CliSettings(sandbox=True)
    env = cli_env(_spec(tmp_path), cli, "0123456789abcdef", source={"PATH": "/bin"})
    assert env[SCRUB_ENV] == "0"
    temp = session_temp_dir("0123456789abcdef")
    assert env[TMPDIR_ENV] == str(temp) and temp.name == "orch-0123456789ab"
    # The CLI takes CLAUDE_CODE_TMPDIR for its Bash only while <it>/claude-<uid> is short.
    assert len(f"{temp}/claude-65534") <= 44
    options = session_options(_spec(tmp_path), cli, token="0123456789abcdef")
    assert options.sandbox is not None
    assert options.env[TMPDIR_ENV] == str(temp)


def test_no_session_has_the_env_scrub_or_a_temp_dir_unless_sandboxed(tmp_path: Path) -> None:
    # The scrub would plant placeholder files in the cwd and needs bubblewrap even when
    # the user turned the sandbox off.
    for role, cli in ((Role.JUDGE, CliSettings(sandbox=True)), (Role.WORKER, CliSettings())):
        env = cli_env(_spec(tmp_path, role), cli, "tok", source={"PATH": "/bin"})
        assert env[SCRUB_ENV] == "0" and TMPDIR_ENV not in env
