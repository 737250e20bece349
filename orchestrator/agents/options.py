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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from claude_agent_sdk import ClaudeAgentOptions, SandboxSettings

from orchestrator.domain.roles import MCP_SERVER_NAME, WORKER_BUILTIN_TOOLS, Role, allowed_tools

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
from .sandbox import cli_sandbox_settings

#: Our retry policy owns retries; see the module docstring.
DEFAULT_CLI_MAX_RETRIES = 1
#: Environment every CLI gets unless the caller overrides it.
#: ``CLAUDE_CODE_SUBPROCESS_ENV_SCRUB`` makes the CLI strip the model credentials it was
#: given from the environment of what it spawns (Bash, hooks, MCP servers).
DEFAULT_CLI_ENV: Mapping[str, str] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB": "1",
}
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


def cli_env(
    spec: SessionSpec, cli: CliSettings, token: str, source: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The CLI's ``options.env``: the allow-listed part of the daemon's environment
    (``source``, default ``os.environ``), our defaults, the caller's env (it wins), the
    config dir and our markers; plus, for the launcher (``environment``), the list of these
    names, and every other name of the daemon's environment blanked.

    The SDK merges ``options.env`` over the daemon's environment, so blanking is what keeps
    a secret's value out of the CLI's process even before the launcher drops the names.
    """
    daemon_env = os.environ if source is None else source
    env = passthrough_env(cli.env_passthrough, daemon_env)
    env.update(cli.base_env)
    if cli.cli_max_retries is not None:
        env["CLAUDE_CODE_MAX_RETRIES"] = str(cli.cli_max_retries)
    env.update(spec.env)
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
        env=cli_env(spec, cli, token),
        stderr=stderr,
        session_store=spec.session_store,
        # Mirror every frame as it arrives: after a kill -9 the DB holds the session up to
        # its last message, for the resume and for the summary a fresh session gets.
        session_store_flush="eager",
        # Through the launcher: the CLI gets env= and nothing else of the daemon's.
        # Claude Code's own sandbox for workers' Bash (see ``sandbox`` for what it confines).
        sandbox=(
            cast(
                SandboxSettings,
                cli_sandbox_settings(cli.allowed_domains, spec.cwd, spec.protected),
            )
            if role is Role.WORKER and cli.sandbox
            else None
        ),
        cli_path=str(launcher_for(real_cli_path(cli.cli_path))),
    )
