"""Claude Code's own sandbox for workers' Bash: the settings that keep it in its worktree.

How the bundled CLI (2.1.x, Linux) builds the sandbox, read from its code and checked with
``/proc/self/mountinfo`` inside it: bubblewrap with the whole file system read-only
(``--ro-bind / /``) and writable binds only for the session's cwd (the worktree), its temp
dir (``$CLAUDE_CODE_TMPDIR/claude-<uid>``, the ``TMPDIR`` its Bash gets), the main
repository's ``.git`` when the cwd is a linked worktree (so that git can commit there), and
a few defaults that exist on the host (``~/.npm/_logs``, ``~/.claude/debug``,
``/tmp/claude``). ``filesystem.denyWrite`` is laid read-only over all of that, and a deny
wins over an allow.

So the settings here:

- give each session a private temp dir (``CLAUDE_CODE_TMPDIR``, see ``options``), never
  the host's shared ``/tmp/claude-<uid>``;
- deny the worktree's ``.git``, the user's checkout (its ``.git`` included, which the CLI
  would otherwise open for a linked worktree), the daemon's state and config, and the
  CLI's host defaults above: what stays writable is the worktree and the private temp dir;
- unset the model's credentials for sandboxed commands (``credentials.envVars``).

``CLAUDE_CODE_SUBPROCESS_ENV_SCRUB`` must stay off (``options.DEFAULT_CLI_ENV``): it
switches the CLI to a scrub profile that opens ``/home``, ``/root``, ``/tmp``, ``/var``,
``/opt``, ``/run`` and ``/mnt`` to writes and plants empty placeholder files (``.env``,
``package.json``, ...) in the worktree and the home directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: The model's credentials: unset for everything a sandboxed worker's Bash runs.
MODEL_CREDENTIALS: tuple[str, ...] = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
)

#: What the CLI makes writable on its own, relative to the home directory and absolute.
_CLI_HOME_DEFAULTS = (".npm/_logs", ".claude/debug")
_CLI_ABSOLUTE_DEFAULTS = ("/tmp/claude", "/private/tmp/claude")


def cli_sandbox_settings(
    allowed_domains: Sequence[str],
    cwd: Path,
    temp_dir: Path,
    protected: Sequence[Path] = (),
    home: Path | None = None,
) -> dict[str, Any]:
    """``ClaudeAgentOptions.sandbox`` for a worker whose Bash may write only ``cwd`` and
    ``temp_dir``: sandboxed always (``allowUnsandboxedCommands`` off), network limited to
    ``allowed_domains``, writes denied to the ``protected`` paths, the worktree's ``.git``
    and the CLI's own writable defaults, and the model's credentials unset."""
    real_cwd = cwd.resolve()
    keep = (real_cwd, temp_dir.resolve())
    defaults = [*(Path(p) for p in _CLI_ABSOLUTE_DEFAULTS)]
    if home is not None:
        defaults += [home / p for p in _CLI_HOME_DEFAULTS]
    denied = deny_around([*protected, *(p for p in defaults if p.exists())], keep)
    return {
        "enabled": True,
        "autoAllowBashIfSandboxed": True,
        "allowUnsandboxedCommands": False,
        "network": {"allowedDomains": list(allowed_domains)},
        "filesystem": {"denyWrite": [*denied, str(real_cwd / ".git")]},
        "credentials": {"envVars": [{"name": n, "mode": "deny"} for n in MODEL_CREDENTIALS]},
    }


def deny_around(paths: Iterable[Path], keep: Sequence[Path]) -> list[str]:
    """The paths to deny so that all of ``paths`` is denied except what is in ``keep``.

    A deny wins over an allow in the CLI, so a protected path holding a kept one (the
    state dir holding the session's temp dir) is replaced by its entries, down to the kept
    path; a protected path inside a kept one (a worktree under the user's checkout) stays.
    """
    denied: list[str] = []
    for path in paths:
        real = path.resolve()
        holding = [k for k in keep if k != real and k.is_relative_to(real)]
        if real in keep:
            continue
        if not holding:
            denied.append(str(real))
            continue
        if real.is_dir():
            denied += deny_around(sorted(real.iterdir()), keep)
    return denied
