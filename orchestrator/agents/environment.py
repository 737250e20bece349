"""The environment an agent's CLI gets: an allow-list of the daemon's, never all of it.

The SDK's subprocess transport starts the CLI with ``{**os.environ, **options.env}``: the
daemon's whole environment (``GITHUB_TOKEN``, database passwords, cloud keys) would reach
every agent and everything its Bash runs. ``ClaudeAgentOptions.env`` cannot remove a name,
so the CLI is started through a launcher (``cli_path``) that ``execve``s the real CLI with
only the names listed in ``ORCH_ENV_KEEP``: the allow-listed ones we copied into
``options.env`` plus the few the SDK itself sets. ``exec`` keeps the pid, so the SDK's
process handle, our pid bookkeeping and the process markers all see the real CLI.
"""

from __future__ import annotations

import atexit
import fnmatch
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import claude_agent_sdk

from orchestrator.domain.redaction import redact

#: The variable the launcher reads: comma-separated names to keep.
KEEP_ENV = "ORCH_ENV_KEEP"

#: Passed through by default (``agent.env_passthrough``): what a shell and a toolchain need.
DEFAULT_PASSTHROUGH: tuple[str, ...] = ("PATH", "HOME", "LANG", "LC_*", "TZ", "TERM")

#: What the CLI needs to reach the real model when the user's login is not in ``$HOME``
#: (only with ``model.backend = "claude"``; the simulator's come from ``sim_env``).
MODEL_ACCESS_ENV: tuple[str, ...] = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
)

#: Names the SDK's transport adds on its own (it sets them after ``options.env``).
SDK_SET_ENV: tuple[str, ...] = (
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_AGENT_SDK_VERSION",
    "CLAUDE_AGENT_SDK_CLIENT_APP",
    "CLAUDE_AGENT_SDK_DERIVED_CLIENT_APP",
    "CLAUDE_CODE_SDK_READS_SESSION_STATE",
    "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING",
    "PWD",
)

_LAUNCHER = """#!{python} -I
# Written by orch: start the Claude Code CLI with only the variables named in {keep}.
import os
import sys

keep = set(os.environ.get({keep!r}, "").split(","))
env = {{name: value for name, value in os.environ.items() if name in keep}}
os.execve({cli!r}, [{cli!r}, *sys.argv[1:]], env)
"""


def passthrough_env(patterns: Iterable[str], source: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``source`` whose names match ``patterns`` (``LC_*`` style globs)."""
    globs = tuple(patterns)
    return {
        name: value
        for name, value in source.items()
        if any(fnmatch.fnmatchcase(name, glob) for glob in globs)
    }


def keep_list(env: Mapping[str, str]) -> str:
    """The ``ORCH_ENV_KEEP`` value for a CLI started with ``env`` as ``options.env``."""
    return ",".join(sorted({*env, *SDK_SET_ENV}))


def real_cli_path(cli_path: str | Path | None) -> str:
    """The CLI to start: the caller's, else the SDK's bundled one, else ``claude`` on PATH."""
    if cli_path is not None:
        return str(cli_path)
    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("claude")
    if found is None:
        raise FileNotFoundError("Claude Code CLI not found (claude-agent-sdk bundles one)")
    return found


_launchers: dict[str, Path] = {}


def launcher_for(cli: str) -> Path:
    """An executable that starts ``cli`` with a scrubbed environment (one per process)."""
    existing = _launchers.get(cli)
    if existing is not None and existing.exists():
        return existing
    directory = Path(tempfile.mkdtemp(prefix="orch-cli-"))
    atexit.register(shutil.rmtree, directory, True)
    path = directory / "claude-scrubbed-env"
    path.write_text(_LAUNCHER.format(python=sys.executable, keep=KEEP_ENV, cli=cli))
    path.chmod(0o755)
    _launchers[cli] = path
    return path


#: Larger files under a session's config dir are not CLI transcripts; left alone.
_SCRUB_MAX_BYTES = 64 * 1024 * 1024


def redact_files(directory: Path | None) -> int:
    """Redact secrets in the text files under ``directory`` (a session's CLI config dir,
    under ``state/``, where the CLI writes its own transcript); how many changed.

    The CLI writes as it goes, so this runs once the session has ended.
    """
    if directory is None or not directory.is_dir():
        return 0
    changed = 0
    for path in directory.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _SCRUB_MAX_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        clean = redact(text)
        if clean != text:
            tmp = path.with_name(path.name + ".redacting")
            tmp.write_text(clean, encoding="utf-8")
            tmp.replace(path)
            changed += 1
    return changed
