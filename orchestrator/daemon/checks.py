"""Running the project's check command in a track's worktree."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import anyio

#: Characters of the check's output kept for the WO's failure note and the next attempt.
OUTPUT_TAIL_CHARS = 4000


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    exit_code: int | None
    output_tail: str
    timed_out: bool = False


async def run_check(command: str, cwd: Path, timeout_s: float) -> CheckResult:
    """Run ``command`` (the user's configured check, through the shell) in ``cwd``.

    An empty command passes. The command runs in its own process group so that a timeout
    ends everything it started, not only the shell.
    """
    if not command.strip():
        return CheckResult(passed=True, exit_code=0, output_tail="(no check command)")
    env = {**os.environ, "CI": os.environ.get("CI", "true")}
    process = await anyio.open_process(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    chunks: list[bytes] = []
    timed_out = False
    try:
        with anyio.fail_after(timeout_s):
            assert process.stdout is not None
            async for chunk in process.stdout:
                chunks.append(chunk)
            await process.wait()
    except TimeoutError:
        timed_out = True
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await process.wait()
    output = b"".join(chunks).decode("utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:]
    if timed_out:
        return CheckResult(False, None, output + f"\n(check timed out after {timeout_s:g}s)", True)
    return CheckResult(process.returncode == 0, process.returncode, output)
