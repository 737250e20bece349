"""The OS sandbox (bubblewrap): for workers' Bash, and for the commands the daemon runs.

On by default (``worker.sandbox``); when the host cannot run it, workers do not start.

- Workers' Bash runs in Claude Code's own sandbox (``ClaudeAgentOptions.sandbox``:
  bubblewrap, and socat for its network proxy), set up by ``cli_sandbox``: it may write
  only its worktree and a private temp dir, never runs unsandboxed, and reaches only
  ``worker.allowed_domains`` (none by default).
- The check and evaluation commands the daemon runs itself go under ``bwrap`` directly
  with our own rules (:func:`bwrap_prefix`): everything read-only but the worktree and a
  private temp dir (its ``TMPDIR``), the worktree's ``.git`` read-only too, and no network
  (``--unshare-net``) unless ``worker.allowed_domains`` names something (bubblewrap cannot
  filter by domain, so a non-empty list means the host's network).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def find_bwrap(path_env: str | None = None) -> str:
    return shutil.which("bwrap", path=path_env) or "bwrap"
