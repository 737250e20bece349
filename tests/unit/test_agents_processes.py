"""Finding and ending marked process trees (real, short-lived processes; no CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import anyio
import psutil

from orchestrator.agents.processes import (
    end_orphans,
    end_pids,
    end_process_tree,
    find_agent_processes,
    is_agent_process,
    marker_env,
)

# A parent that starts a child which ignores SIGTERM: the tree must still end (SIGKILL).
_TREE = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def _start_tree(owner: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, **marker_env(owner, uuid.uuid4().hex)}
    parent = subprocess.Popen(
        [sys.executable, "-c", _TREE], env=env, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    return parent, child_pid


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_end_process_tree_kills_children_that_ignore_sigterm() -> None:
    owner = f"test-{uuid.uuid4().hex}"
    parent, child_pid = _start_tree(owner)
    try:
        with anyio.fail_after(15):
            signalled = await end_process_tree([psutil.Process(parent.pid)], grace_s=0.5)
        assert set(signalled) == {parent.pid, child_pid}
        assert _gone(child_pid)
        parent.wait(timeout=5)
    finally:
        parent.kill()


async def test_orphans_are_found_by_owner_and_ended_by_recorded_pid() -> None:
    owner = f"test-{uuid.uuid4().hex}"
    parent, child_pid = _start_tree(owner)
    try:
        # A process in the middle of exec() can briefly show no environment: look again.
        deadline = time.monotonic() + 10
        found = {p.pid for p in find_agent_processes(owner)}
        while found != {parent.pid, child_pid} and time.monotonic() < deadline:
            time.sleep(0.05)
            found = {p.pid for p in find_agent_processes(owner)}
        assert found == {parent.pid, child_pid}
        assert find_agent_processes(f"other-{owner}") == []
        assert is_agent_process(parent.pid, owner)
        assert not is_agent_process(parent.pid, "someone-else")
        with anyio.fail_after(15):
            ended = await end_pids([parent.pid, 999_999_999], owner, grace_s=0.5)
        assert parent.pid in ended
        parent.wait(timeout=5)
        deadline = time.monotonic() + 5
        while not _gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(child_pid)
        assert find_agent_processes(owner) == []
    finally:
        parent.kill()


async def test_end_orphans_ends_every_marked_process_of_the_owner() -> None:
    owner = f"test-{uuid.uuid4().hex}"
    first, first_child = _start_tree(owner)
    second, _ = _start_tree(owner)
    try:
        with anyio.fail_after(15):
            ended = await end_orphans(owner, grace_s=0.5)
        assert {first.pid, first_child, second.pid} <= set(ended)
        first.wait(timeout=5)
        second.wait(timeout=5)
        assert find_agent_processes(owner) == []
    finally:
        first.kill()
        second.kill()
