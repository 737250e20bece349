"""The agents' environment: an allow-list of the daemon's, enforced by the CLI launcher."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents.claude_runtime import ClaudeRuntime
from orchestrator.agents.environment import KEEP_ENV, launcher_for, passthrough_env
from orchestrator.agents.options import CliSettings, cli_env
from orchestrator.agents.protocol import SessionSpec, ToolReply
from orchestrator.daemon.checks import CommandPolicy, run_command
from orchestrator.domain.roles import Role

DAEMON_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/me",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TERM": "xterm",
    "GITHUB_TOKEN": "canary-github",
    "MY_DB_PASSWORD": "canary-db",
    "ANTHROPIC_AUTH_TOKEN": "canary-auth",
}


async def _handler(tool: str, args: dict[str, Any]) -> ToolReply:
    return ToolReply(True, "ok")


def _spec(tmp_path: Path) -> SessionSpec:
    return SessionSpec(
        role=Role.WORKER,
        system_prompt="s",
        user_prompt="u",
        cwd=tmp_path,
        tool_handler=_handler,
        env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:1", "ANTHROPIC_API_KEY": "sim-key"},
    )


def test_passthrough_matches_names_and_globs() -> None:
    got = passthrough_env(("PATH", "LC_*"), DAEMON_ENV)
    assert got == {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


def test_cli_env_holds_the_allow_list_and_the_callers_env_only(tmp_path: Path) -> None:
    env = cli_env(_spec(tmp_path), CliSettings(), "tok", source=DAEMON_ENV)
    secrets = {"GITHUB_TOKEN", "MY_DB_PASSWORD", "ANTHROPIC_AUTH_TOKEN"}
    # Blanked (the SDK merges env over the daemon's own), and not kept by the launcher.
    assert {name: env[name] for name in secrets} == dict.fromkeys(secrets, "")
    assert env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/home/me"
    assert env["ANTHROPIC_API_KEY"] == "sim-key"
    assert env["CLAUDE_CODE_SUBPROCESS_ENV_SCRUB"] == "0"
    keep = set(env[KEEP_ENV].split(","))
    assert {name for name, value in env.items() if value} - {KEEP_ENV} <= keep
    assert "CLAUDE_CODE_ENTRYPOINT" in keep and "GITHUB_TOKEN" not in keep


def test_the_options_start_the_cli_through_the_launcher(tmp_path: Path) -> None:
    options = ClaudeRuntime(owner="t").options_for(_spec(tmp_path), token="tok")
    assert options.cli_path is not None
    assert "os.execve" in Path(options.cli_path).read_text()


def test_the_launcher_drops_everything_not_kept(tmp_path: Path) -> None:
    # /usr/bin/env stands in for the CLI: it prints the environment it was given.
    launcher = launcher_for("/usr/bin/env")
    parent_env = {**DAEMON_ENV, "KEPT": "yes", KEEP_ENV: "KEPT,PATH"}
    out = subprocess.run([str(launcher)], env=parent_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == ["KEPT=yes", "PATH=/usr/bin:/bin"]


async def test_commands_the_daemon_runs_get_the_allow_list_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "canary-github")
    monkeypatch.setenv("LC_TIME", "C")
    result = await run_command(
        'printf "%s|%s|%s" "$GITHUB_TOKEN" "$LC_TIME" "$CI"',
        tmp_path,
        30,
        policy=CommandPolicy(env_passthrough=("PATH", "LC_*")),
    )
    assert result.stdout == f"|C|{os.environ.get('CI', 'true')}"
