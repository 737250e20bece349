"""The OS sandbox (bubblewrap): for workers' Bash, and for the commands the daemon runs.

On by default (``worker.sandbox``); when the host cannot run it, workers do not start.

- Workers' Bash runs in Claude Code's own sandbox (``ClaudeAgentOptions.sandbox``:
  bubblewrap, and socat for its network proxy) with ``allowUnsandboxedCommands`` off, so a
  command cannot ask to run outside it, and Bash's network limited to
  ``worker.allowed_domains`` (none by default), and writes denied to the paths the daemon
  protects (its state and config, the user's checkout) and to the worktree's ``.git``.
  Otherwise its file-system rules are the CLI's: with the bundled CLI 2.1.x on Linux it
  keeps the root file system, ``.git/hooks``, ``.git/config``, shell rc files and the like
  read-only, but leaves ``/tmp``, ``/var`` and the home directory writable. It does not keep
  Bash inside the worktree (a denied ancestor would deny the worktree too: deny wins).
- The check and evaluation commands the daemon runs itself go under ``bwrap`` directly
  with our own rules (:func:`bwrap_prefix`): everything read-only but the worktree and a
  private temp dir (its ``TMPDIR``), the worktree's ``.git`` read-only too, and no network
  (``--unshare-net``) unless ``worker.allowed_domains`` names something (bubblewrap cannot
  filter by domain, so a non-empty list means the host's network).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: What a user may set, knowingly, when the host cannot run the sandbox.
DISABLE_SETTING = "worker.sandbox = false"
#: The Debian/Ubuntu packages the sandbox needs.
PACKAGES = ("bubblewrap", "socat")
_PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Confinement:
    """Where a sandboxed command may write, and whether it has the host's network."""

    writable: tuple[Path, ...]
    private_tmp: Path
    read_only: tuple[Path, ...] = ()
    network: bool = False
    bwrap: str = "bwrap"


def bwrap_prefix(confinement: Confinement) -> list[str]:
    """``bwrap`` and its arguments, up to and including ``--``; append the command."""
    args = [confinement.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # The host's /tmp stays visible but read-only (a check may read a script or a venv
    # there); the command's own writable temp dir is its TMPDIR, which dies with the run.
    tmp = str(confinement.private_tmp)
    args += ["--bind", tmp, tmp, "--setenv", "TMPDIR", tmp]
    for path in confinement.writable:
        args += ["--bind", str(path), str(path)]
    for path in confinement.read_only:
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    if not confinement.network:
        args.append("--unshare-net")

    return [*args, "--die-with-parent", "--"]


def sandbox_problem(path_env: str | None = None) -> str | None:
    """Why the sandbox cannot start on this host (one line), or None when it can."""
    missing = [
        package
        for package, binary in zip(PACKAGES, ("bwrap", "socat"), strict=True)
        if shutil.which(binary, path=path_env) is None
    ]
    if missing:
        return (
            f"the worker sandbox needs {' and '.join(missing)} (apt-get install "
            f"{' '.join(missing)}), or set {DISABLE_SETTING} to run workers unconfined"
        )
    bwrap = shutil.which("bwrap", path=path_env)
    assert bwrap is not None
    try:
        probe = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "true"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot start ({exc}); set {DISABLE_SETTING} to run workers unconfined"
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"bubblewrap cannot start ({said}); set {DISABLE_SETTING} to run workers unconfined"
    return None


def cli_sandbox_settings(
    allowed_domains: Sequence[str], cwd: Path, protected: Sequence[Path] = ()
) -> dict[str, Any]:
    """``ClaudeAgentOptions.sandbox`` for workers: sandboxed Bash, never unsandboxed, and
    the ``protected`` paths plus the worktree's ``.git`` denied to it. (A denied path wins
    over an allowed one in the CLI, so an ancestor of ``cwd`` is never listed.)"""
    real_cwd = cwd.resolve()
    denied = [
        str(path.resolve()) for path in protected if not real_cwd.is_relative_to(path.resolve())
    ]
    return {
        "enabled": True,
        "autoAllowBashIfSandboxed": True,
        "allowUnsandboxedCommands": False,
        "network": {"allowedDomains": list(allowed_domains)},
        "filesystem": {"denyWrite": [*denied, str(real_cwd / ".git")]},
    }


def find_bwrap(path_env: str | None = None) -> str:
    return shutil.which("bwrap", path=path_env) or "bwrap"
