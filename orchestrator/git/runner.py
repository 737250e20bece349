"""The one place that starts git: explicit argument lists, a sealed environment, bounded time."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.errors import GitError

DEFAULT_GIT_TIMEOUT_S = 600.0

# Git processes started by this process, by subcommand: the benchmarks print them per WO
# (every process costs a fork and git's start, on the path between two WOs of a track).
_started: Counter[str] = Counter()
_started_lock = threading.Lock()


def git_processes_started() -> dict[str, int]:
    """How many git processes ``run_git`` started so far, by subcommand."""
    with _started_lock:
        return dict(_started)


# Variables that would point git at another repository, index or object store than the one
# we name with cwd; inherited from a hook or a user's shell they would silently redirect us.
_REDIRECTING_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
)

# Unattended: nothing may wait for a human (password prompt, editor, merge message).
_UNATTENDED_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_MERGE_AUTOEDIT": "no",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    # English messages, so the stderr we put into errors reads the same everywhere.
    "LC_ALL": "C",
    "LANGUAGE": "C",
}


@dataclass(frozen=True)
class Identity:
    """Who authors and commits the orchestrator's commits."""

    name: str
    email: str

    def env(self) -> dict[str, str]:
        # Through the environment rather than config, so no global git config is needed.
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


DEFAULT_IDENTITY = Identity("orchestrator", "orchestrator@localhost")


@dataclass(frozen=True)
class GitResult:
    """What a finished git command returned."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def git_env(
    extra: Mapping[str, str] | None = None, identity: Identity | None = None
) -> dict[str, str]:
    """The environment every git command runs with."""
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING_VARS}
    env.update(_UNATTENDED_ENV)
    env.update((identity or DEFAULT_IDENTITY).env())
    if extra:
        env.update(extra)
    return env


def describe(args: Sequence[str]) -> str:
    return "git " + " ".join(args)


def last_line(text: str) -> str:
    """The line of git's output that says what went wrong.

    That is the last ``fatal:`` or ``error:`` line when there is one, since git often ends with
    advice ("remove the file manually to continue."), else the last non-blank line.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else ""


def run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    identity: Identity | None = None,
    input: str | None = None,
    check: bool = True,
    timeout_s: float = DEFAULT_GIT_TIMEOUT_S,
) -> GitResult:
    """Run ``git <args>`` in ``cwd``.

    With ``check`` (the default) a non-zero exit raises GitError carrying the command and the
    last line of stderr; without it the caller inspects ``returncode`` itself, for the commands
    whose exit status is an answer (``merge-base --is-ancestor``, ``diff --quiet``).
    """
    argv = ["git", *args]
    with _started_lock:
        _started[_subcommand(args)] += 1
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=git_env(env, identity),
            input=input,
            # Without input, stdin is closed so git can never block reading a terminal.
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"{describe(args)} timed out after {timeout_s:g}s in {cwd}") from exc
    except OSError as exc:
        raise GitError(f"{describe(args)} could not start in {cwd}: {exc}") from exc
    result = GitResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise command_error(result, cwd)
    return result


def _subcommand(args: Sequence[str]) -> str:
    """The subcommand of ``args``, past global options such as ``-c k=v``."""
    it = iter(args)
    for arg in it:
        if arg in ("-c", "-C"):
            next(it, None)
        elif not arg.startswith("-"):
            return arg
    return "?"


def command_error(result: GitResult, cwd: Path) -> GitError:
    detail = last_line(result.stderr) or last_line(result.stdout) or f"exit {result.returncode}"
    return GitError(f"{describe(result.args)} failed in {cwd}: {detail}")
