"""Running the project's check command (and an experiment's evaluation) in a worktree.

Both go through :func:`run_command`, so an evaluation runs exactly as confined as the check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from orchestrator.agents.environment import passthrough_env
from orchestrator.agents.sandbox import Confinement, bwrap_prefix, find_bwrap
from orchestrator.config import Settings
from orchestrator.domain.redaction import redact

#: Characters of the check's output kept for the WO's failure note and the next attempt.
OUTPUT_TAIL_CHARS = 4000


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    exit_code: int | None
    output_tail: str
    timed_out: bool = False


@dataclass(frozen=True)
class CommandResult:
    """A finished command: exit code (None when it timed out), stdout, stderr (tails)."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool


@dataclass(frozen=True)
class CommandPolicy:
    """How the daemon runs a command on agents' work: which variables it gets, and whether
    it runs in the sandbox (``agents.sandbox``) and with the host's network."""

    env_passthrough: tuple[str, ...] = ()
    sandbox: bool = False
    network: bool = False


def command_policy(settings: Settings) -> CommandPolicy:
    return CommandPolicy(
        env_passthrough=settings.agent.env_passthrough,
        sandbox=settings.worker.sandbox,
        network=bool(settings.worker.allowed_domains),
    )


async def run_check(
    command: str, cwd: Path, timeout_s: float, policy: CommandPolicy
) -> CheckResult:
    """Run ``command`` (the user's configured check, through the shell) in ``cwd``.

    An empty command passes. The output is redacted: it is stored (the WO's failure note,
    the next attempt's prompt) and a check may print what it should not.
    """
    if not command.strip():
        return CheckResult(passed=True, exit_code=0, output_tail="(no check command)")
    result = await run_command(command, cwd, timeout_s, merge_stderr=True, policy=policy)
    output = redact(result.stdout)
    if result.timed_out:
        return CheckResult(False, None, output + f"\n(check timed out after {timeout_s:g}s)", True)
    return CheckResult(result.exit_code == 0, result.exit_code, output)


async def run_command(
    command: str,
    cwd: Path,
    timeout_s: float,
    *,
    merge_stderr: bool = False,
    env_extra: Mapping[str, str] | None = None,
    policy: CommandPolicy = CommandPolicy(),
) -> CommandResult:
    """Run ``command`` through the shell in ``cwd``, in its own process group so that a
    timeout (or a cancel) ends everything it started, not only the shell.

    The command gets the variables of the daemon's environment named in the policy's
    ``env_passthrough`` (globs), ``CI`` and ``env_extra``, nothing else: it is the project's
    code, run on the agents' work, and must not see the daemon's secrets any more than the
    agents do. With ``policy.sandbox`` it runs under bwrap: it may write only ``cwd`` and a
    private temp dir (its ``TMPDIR``; the host's /tmp is read-only), never ``cwd/.git``,
    and has no network unless ``policy.network``."""
    env = {
        **passthrough_env(policy.env_passthrough, os.environ),
        "CI": os.environ.get("CI", "true"),
    }
    env.update(env_extra or {})
    with tempfile.TemporaryDirectory(prefix="orch-check-tmp-") as private_tmp:
        argv: str | list[str] = command
        if policy.sandbox:
            confinement = Confinement(
                writable=(cwd.resolve(),),
                private_tmp=Path(private_tmp),
                read_only=(cwd.resolve() / ".git",),
                network=policy.network,
                bwrap=find_bwrap(os.environ.get("PATH")),
            )
            argv = [*bwrap_prefix(confinement), "/bin/sh", "-c", command]
        return await _run(argv, cwd, env, timeout_s, merge_stderr)


async def _run(
    argv: str | list[str], cwd: Path, env: dict[str, str], timeout_s: float, merge_stderr: bool
) -> CommandResult:
    process = await anyio.open_process(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        start_new_session=True,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    timed_out = False

    async def drain(stream: Any, into: list[bytes]) -> None:
        if stream is not None:
            async for chunk in stream:
                into.append(chunk)

    try:
        with anyio.fail_after(timeout_s):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, process.stdout, out)
                tg.start_soon(drain, process.stderr, err)
            await process.wait()
    except TimeoutError:
        timed_out = True
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await process.wait()

    def tail(chunks: list[bytes]) -> str:
        return b"".join(chunks).decode("utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:]

    return CommandResult(None if timed_out else process.returncode, tail(out), tail(err), timed_out)
