"""Finding and ending Claude Code CLI process trees.

Every CLI we start carries two marker variables in its environment: the owner (one per
state home, so two daemons on a host never touch each other's agents) and a token unique
to the session attempt. The markers are inherited by whatever the CLI spawns (Bash tool
shells, their children), so the whole tree can be found even after our process crashed
and the tree was re-parented to init.

We never ``wait()`` on processes through psutil: the CLI is a child of our event loop's
subprocess watcher, and reaping it here would steal its exit status. Death is polled
instead (a zombie counts as dead) and the SDK's transport reaps its own child.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import anyio
import psutil
import structlog

_log = structlog.get_logger(__name__)

OWNER_ENV = "ORCH_AGENT_OWNER"
TOKEN_ENV = "ORCH_AGENT_TOKEN"
DEFAULT_OWNER = "orch"
DEFAULT_KILL_GRACE_S = 5.0
_POLL_S = 0.05


def marker_env(owner: str, token: str) -> dict[str, str]:
    return {OWNER_ENV: owner, TOKEN_ENV: token}


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        env: dict[str, str] = proc.environ()
        return env
    except (psutil.Error, OSError):
        return {}


def _is_cli(proc: psutil.Process) -> bool:
    try:
        cmdline = proc.cmdline()
    except (psutil.Error, OSError):
        return False
    return bool(cmdline) and os.path.basename(cmdline[0]) in ("claude", "claude.exe")


def find_cli_processes(token: str) -> list[psutil.Process]:
    """Our child CLI processes started with ``token`` (the top of each marked tree)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        if _environ(child).get(TOKEN_ENV) != token or not _is_cli(child):
            continue
        try:
            parent = child.parent()
        except psutil.Error:
            parent = None
        # A CLI the CLI started (a sub-agent) belongs to the same tree: report the top.
        if parent is not None and _environ(parent).get(TOKEN_ENV) == token:
            continue
        found.append(child)
    return found


def find_agent_processes(owner: str, exclude_tokens: Iterable[str] = ()) -> list[psutil.Process]:
    """Every live process on the host marked with ``owner`` (CLIs and what they spawned).

    After a crash the daemon calls this before starting new sessions and ends them all:
    anything still marked with its owner is an orphan of the previous run.
    """
    excluded = set(exclude_tokens)
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        env = _environ(proc)
        if env.get(OWNER_ENV) == owner and env.get(TOKEN_ENV) not in excluded and _alive(proc):
            found.append(proc)
    return found


def find_session_processes(token: str) -> list[psutil.Process]:
    """Every live process marked with one session's ``token``, wherever it now hangs.

    A CLI killed from outside leaves its children (a sandbox's network proxy, a background
    shell) re-parented, out of reach of its process tree; the marker still names them.
    """
    return [
        proc
        for proc in psutil.process_iter()
        if proc.pid != os.getpid() and _environ(proc).get(TOKEN_ENV) == token and _alive(proc)
    ]


def is_agent_process(pid: int, owner: str) -> bool:
    """True when ``pid`` is still one of ``owner``'s agent processes (not a reused pid)."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return False
    return _alive(proc) and _environ(proc).get(OWNER_ENV) == owner


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tree(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    # Collect the children before signalling anything: once a parent dies its children
    # are re-parented and can no longer be found from it.
    seen: dict[int, psutil.Process] = {}
    for proc in procs:
        seen.setdefault(proc.pid, proc)
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                seen.setdefault(child.pid, child)
    return list(seen.values())


async def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    with anyio.move_on_after(timeout):
        while any(_alive(p) for p in procs):
            await anyio.sleep(_POLL_S)
    return [p for p in procs if _alive(p)]


async def end_process_tree(
    procs: Iterable[psutil.Process], grace_s: float = DEFAULT_KILL_GRACE_S
) -> list[int]:
    """SIGTERM each process and all its descendants, SIGKILL what is left after ``grace_s``.

    Returns the pids that were signalled. Safe to call on processes already gone.
    """
    tree = [p for p in _tree(procs) if _alive(p)]
    if not tree:
        return []
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    left = await _wait_gone(tree, grace_s)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    still = await _wait_gone(left, grace_s)
    if still:
        _log.error("cli_process_survived_kill", pids=[p.pid for p in still])
    return [p.pid for p in tree]


async def end_pids(
    pids: Iterable[int], owner: str, grace_s: float = DEFAULT_KILL_GRACE_S
) -> list[int]:
    """End the trees of recorded pids that are still ``owner``'s agents (orphan cleanup)."""
    procs = []
    for pid in pids:
        if is_agent_process(pid, owner):
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
    return await end_process_tree(procs, grace_s)


async def end_orphans(owner: str, grace_s: float = DEFAULT_KILL_GRACE_S) -> list[int]:
    """End every process still marked with ``owner``: call at daemon start, before any
    session runs (a crashed daemon's CLIs and their children)."""
    orphans = find_agent_processes(owner)
    if orphans:
        _log.warning("cli_orphans_found", pids=[p.pid for p in orphans])
    return await end_process_tree(orphans, grace_s)
