"""The ``ClaudeAgentOptions`` of a session: tools, permissions, hooks, MCP server, env.

Retries: the bundled CLI (2.1.x) retries 429/529/5xx on its own, ``CLAUDE_CODE_MAX_RETRIES``
times (default 10, clamped to 15), honouring ``Retry-After``; before each wait it sends an
``api_retry`` system message with the delay (for a 429, the server's ``retry-after``), and
then nothing until the retry. We allow it one retry: that message is the only way the
``retry-after`` header reaches us (with 0 it is lost), the idle watchdog stretches by the
announced delay, and our policy (``retry.retrying``) owns everything after it: backoff,
parking for the announced time, caps. A cut stream is also retried once by the CLI, as a
non-streaming request, whatever the setting.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from claude_agent_sdk import ClaudeAgentOptions, SandboxSettings

from orchestrator.domain.roles import MCP_SERVER_NAME, WORKER_BUILTIN_TOOLS, Role, allowed_tools

from .cli_sandbox import cli_sandbox_settings
from .environment import (
    DEFAULT_PASSTHROUGH,
    KEEP_ENV,
    keep_list,
    launcher_for,
    passthrough_env,
    real_cli_path,
)
from .guard import GUARDED_TOOLS, WritePolicy, guard_hooks, write_denial
from .mcp_tools import build_mcp_server
from .processes import DEFAULT_OWNER, marker_env
from .protocol import SessionSpec

#: Our retry policy owns retries; see the module docstring.
DEFAULT_CLI_MAX_RETRIES = 1
#: Environment every CLI gets unless the caller overrides it.
#: ``CLAUDE_CODE_SUBPROCESS_ENV_SCRUB`` is off: it would strip the model's credentials from
#: what the CLI starts, but it also switches the CLI's sandbox to a profile that makes
#: ``/home``, ``/root``, ``/tmp``, ``/var``, ``/opt``, ``/run`` and ``/mnt`` writable (see
#: ``cli_sandbox``), plants empty placeholder files (``.env``, ``package.json``, ...) in the
#: session's cwd (a worktree: they would be committed) and in ``$HOME``, and refuses to start
#: without bubblewrap, even with ``worker.sandbox = false``. A sandboxed worker's Bash loses
#: the credentials through its sandbox instead; decision agents have no Bash.
SCRUB_ENV = "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB"
DEFAULT_CLI_ENV: Mapping[str, str] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    SCRUB_ENV: "0",
}
#: Where the CLI keeps its temp dir (and its sandboxed Bash's ``TMPDIR``).
TMPDIR_ENV = "CLAUDE_CODE_TMPDIR"
#: The longest child ``TMPDIR`` the CLI (2.1.x) accepts from ``CLAUDE_CODE_TMPDIR``.
_CLI_TMPDIR_MAX = 44
#: Load no settings files: a repository's ``.claude/settings.json`` could widen the
#: allow-list or add hooks, and the user's own settings must not leak into unattended runs.
DEFAULT_SETTING_SOURCES: tuple[str, ...] = ()


@dataclass(frozen=True)
class CliSettings:
    """What every session of one runtime shares."""

    owner: str = DEFAULT_OWNER
    cli_path: str | Path | None = None
    cli_max_retries: int | None = DEFAULT_CLI_MAX_RETRIES
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CLI_ENV))
    setting_sources: tuple[str, ...] = DEFAULT_SETTING_SOURCES
    #: Names (globs) of the daemon's environment an agent gets; nothing else reaches it.
    env_passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH
    #: Workers' Bash runs in Claude Code's sandbox (``sandbox``); False: the user said so.
    sandbox: bool = False
    #: Domains sandboxed workers' Bash may reach (none by default).
    allowed_domains: tuple[str, ...] = ()
    #: The worktree guard's decision (a parameter so a test can make it raise).
    write_policy: WritePolicy = write_denial


def sandboxed(spec: SessionSpec, cli: CliSettings) -> bool:
    """Whether this session's Bash runs in the CLI's sandbox (workers, unless turned off)."""
    return spec.role is Role.WORKER and cli.sandbox


def session_temp_dir(token: str) -> Path:
    """A sandboxed session's private temp dir (made by ``ClaudeRun``, removed after it).

    In the system's temp dir, not under the state home: the CLI gives its Bash
    ``$CLAUDE_CODE_TMPDIR/claude-<uid>`` as ``TMPDIR`` only while that path is at most
    44 bytes long (unix socket paths are made in it), else the shared ``/tmp/claude-<uid>``.
    """
    base = tempfile.gettempdir()
    if len(f"{base}/orch-{token[:12]}/claude-{os.getuid()}") > _CLI_TMPDIR_MAX:
        base = "/tmp"
    return Path(base) / f"orch-{token[:12]}"


def cli_env(
    spec: SessionSpec, cli: CliSettings, token: str, source: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The CLI's ``options.env``: the allow-listed part of the daemon's environment
    (``source``, default ``os.environ``), our defaults, the caller's env (it wins), the
    config dir and our markers; plus, for the launcher (``environment``), the list of these
    names, and every other name of the daemon's environment blanked. A sandboxed worker
    gets its private temp dir (``cli_sandbox``).

    The SDK merges ``options.env`` over the daemon's environment, so blanking is what keeps
    a secret's value out of the CLI's process even before the launcher drops the names.
    """
    daemon_env = os.environ if source is None else source
    env = passthrough_env(cli.env_passthrough, daemon_env)
    env.update(cli.base_env)
    if cli.cli_max_retries is not None:
        env["CLAUDE_CODE_MAX_RETRIES"] = str(cli.cli_max_retries)
    env.update(spec.env)
    if sandboxed(spec, cli):
        env[TMPDIR_ENV] = str(session_temp_dir(token))
    if spec.config_dir is not None:
        env["CLAUDE_CONFIG_DIR"] = str(spec.config_dir)
    env.update(marker_env(cli.owner, token))
    env[KEEP_ENV] = keep_list(env)
    blanked = {name: "" for name in daemon_env if name not in env}
    return {**blanked, **env}


def session_options(
    spec: SessionSpec,
    cli: CliSettings,
    *,
    token: str,
    stderr: Callable[[str], None] | None = None,
    log: Any = None,
) -> ClaudeAgentOptions:
    role = spec.role
    # Decision roles get no built-in tool at all; workers only their listed ones.
    builtins = list(WORKER_BUILTIN_TOOLS) if role is Role.WORKER else []
    denied = [] if role is Role.WORKER else [*GUARDED_TOOLS, "Bash"]
    if spec.config_dir is not None:
        spec.config_dir.mkdir(parents=True, exist_ok=True)
    env = cli_env(spec, cli, token)
    sandbox: dict[str, Any] | None = None
    if sandboxed(spec, cli):
        home = env.get("HOME")
        sandbox = cli_sandbox_settings(
            cli.allowed_domains,
            spec.cwd,
            session_temp_dir(token),
            spec.protected,
            home=Path(home) if home else None,
        )
    return ClaudeAgentOptions(
        cwd=spec.cwd,
        system_prompt=spec.system_prompt,
        tools=builtins,
        allowed_tools=allowed_tools(role),
        disallowed_tools=denied,
        # bypassPermissions is refused as root and would skip our checks anyway.
        permission_mode="dontAsk",
        mcp_servers={MCP_SERVER_NAME: build_mcp_server(role, spec.tool_handler, log)},
        # Ignore a repository's .mcp.json: the agent gets our server and nothing else.
        strict_mcp_config=True,
        setting_sources=list(cli.setting_sources),  # type: ignore[arg-type]
        hooks=guard_hooks(spec.cwd, log, cli.write_policy),
        resume=spec.resume,
        # The CLI's own limits end a session cleanly; ours (LimitTracker) are the backstop.
        max_turns=spec.limits.max_turns,
        max_budget_usd=spec.limits.max_cost_usd,
        model=spec.model,
        env=env,
        stderr=stderr,
        session_store=spec.session_store,
        # Mirror every frame as it arrives: after a kill -9 the DB holds the session up to
        # its last message, for the resume and for the summary a fresh session gets.
        session_store_flush="eager",
        # Claude Code's own sandbox for workers' Bash (``cli_sandbox``: what it confines).
        sandbox=cast(SandboxSettings, sandbox) if sandbox is not None else None,
        # Through the launcher: the CLI gets env= and nothing else of the daemon's.
        cli_path=str(launcher_for(real_cli_path(cli.cli_path))),
    )
