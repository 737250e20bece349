"""One daemon per state home: a second `orch run` refuses while the first lives; `orch stop`
ends the first gracefully and releases its lease."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.agents.fake_runtime import Hang
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.report import RunReport
from orchestrator.daemon.runner import run_daemon
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import AgentRunRow
from tests.conftest import orch_subprocess, run_main
from tests.integration.daemon_kit import Home, by_role, fake_backend, open_home

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def hanging_home(home: Path, tmp_path: Path) -> Home:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "t", ["a task that never ends"])
    return h


async def wait_for_live_worker(h: Home, timeout: float = 30.0, *, in_session: bool = False) -> None:
    """A worker run is live (claimed); with ``in_session``, its session has started too (so
    an interruption can be resumed rather than started afresh)."""
    with anyio.fail_after(timeout):
        while not any(
            r.role == "worker" and (r.session_id or not in_session) for r in h.store.live_runs()
        ):
            await anyio.sleep(0.05)


async def start_daemon(h: Home, tg: anyio.abc.TaskGroup) -> list[RunReport]:
    """The real daemon in a task, its worker hanging; returns where its report will be."""
    backend, _ = fake_backend(by_role(worker=lambda spec: [Hang()]))
    reports: list[RunReport] = []

    async def daemon() -> None:
        reports.append(
            await run_daemon(h.settings, h.store, RunOptions(max_agents=2), backend=backend)
        )

    tg.start_soon(daemon)
    await wait_for_live_worker(h)
    return reports


async def test_second_run_is_refused_while_the_first_lives(home: Path, tmp_path: Path) -> None:
    h = hanging_home(home, tmp_path)
    async with anyio.create_task_group() as tg:
        reports = await start_daemon(h, tg)
        lease = h.store.current_lease()
        assert lease is not None and lease.pid == os.getpid()

        second = await anyio.to_thread.run_sync(
            lambda: orch_subprocess(home, "run", "--exit-when-idle", timeout=60)
        )
        assert second.returncode == 2, second
        assert "Traceback" not in second.stderr
        (line,) = second.stderr.splitlines()
        assert line.startswith("orch: error: another daemon")
        assert f"pid {os.getpid()}" in line
        # The refused daemon took nothing over: same holder, and the first still works.
        after = h.store.current_lease()
        assert after is not None and after.holder == lease.holder
        assert h.store.lease_is_live(after)
        assert any(r.role == "worker" for r in h.store.live_runs())

        status = run_main(["--home", str(home), "status", "--json"])
        assert '"running": true' in status.out

        stopped = await anyio.to_thread.run_sync(run_main, ["--home", str(home), "stop"])
        assert stopped.code == 0 and f"pid {os.getpid()}" in stopped.out
        with anyio.fail_after(30):
            while not reports:
                await anyio.sleep(0.05)
    assert reports[0].summary["stop_reason"] == "stop requested (orch stop)"
    h.assert_nothing_live()


async def test_a_lost_lease_is_named_as_such(home: Path, tmp_path: Path) -> None:
    """Not "stop requested or lease lost": the report says which, and who took the lease."""
    h = hanging_home(home, tmp_path)
    async with anyio.create_task_group() as tg:
        reports = await start_daemon(h, tg)
        lease = h.store.current_lease()
        assert lease is not None
        # Another holder takes the lease over (as a daemon would after an expiry).
        h.store.release_lease(lease.holder)
        h.store.acquire_lease("daemon-thief", 4242, "elsewhere", 60.0)
        with anyio.fail_after(30):
            while not reports:
                await anyio.sleep(0.05)
    reason = reports[0].summary["stop_reason"]
    assert reason == "lease lost (taken by daemon-thief, pid 4242 on elsewhere)"
    assert "orch stop" not in reason
    assert f"stopped because: {reason}" in reports[0].path.read_text()


async def test_orch_stop_ends_the_daemon_cleanly(home: Path, tmp_path: Path) -> None:
    h = hanging_home(home, tmp_path)
    async with anyio.create_task_group() as tg:
        reports = await start_daemon(h, tg)
        lease = h.store.request_stop()
        assert lease is not None
        with anyio.fail_after(30):
            while not reports:
                await anyio.sleep(0.05)
    report = reports[0]
    assert report.summary["stop_reason"] == "stop requested (orch stop)"
    assert report.path.is_file() and "orch stop" in report.path.read_text()
    # The worker was stopped at a safe point: run interrupted, its WO back in line.
    (run,) = h.runs("worker")
    assert run.status == "interrupted"
    # The report lists it, so the morning after knows what is half done.
    (interrupted,) = report.summary["interrupted"]
    assert interrupted["wo"] == run.wo_id and interrupted["run"] == run.id
    text = report.path.read_text()
    assert "## Interrupted work orders" in text and f"- {run.wo_id} (" in text
    assert set(h.wo_statuses().values()) == {"ready"}
    h.assert_nothing_live()
    # The lease is released: status says no daemon, `orch stop` has nothing to stop, and a
    # new daemon may start at once.
    assert not h.store.lease_is_live(h.store.current_lease())
    kinds = [e.kind for e in h.events() if e.kind.startswith("lease") or e.kind == "stop_requested"]
    assert kinds[-3:] == ["lease_acquired", "stop_requested", "lease_released"]
    assert "No daemon is running" in run_main(["--home", str(home), "stop"]).out
    assert h.store.acquire_lease("next", 1, "host", 5.0).holder == "next"


async def test_stop_then_run_again_resumes_the_interrupted_work(home: Path, tmp_path: Path) -> None:
    """After a graceful stop the next daemon picks the WO up again and finishes it."""
    h = hanging_home(home, tmp_path)
    async with anyio.create_task_group() as tg:
        reports = await start_daemon(h, tg)
        await wait_for_live_worker(h, in_session=True)
        h.store.request_stop()
        with anyio.fail_after(30):
            while not reports:
                await anyio.sleep(0.05)
    backend, _ = fake_backend(by_role())
    with anyio.fail_after(60):
        report = await run_daemon(
            h.settings, h.store, RunOptions(max_agents=2, exit_when_idle=True), backend=backend
        )
    assert report.summary["work_orders"]["done"] == 1
    worker_runs = h.runs("worker")
    assert [r.status for r in worker_runs] == ["resumed", "succeeded"]
    assert worker_runs[1].resumed_from == worker_runs[0].id
    h.assert_nothing_live()


class SlowClaimStore(SQLiteStore):
    """Commits each claim, then holds the claiming thread a while: a stop arrives meanwhile."""

    claimed = threading.Event()

    def claim_work_order(self, *args: Any, **kwargs: Any) -> AgentRunRow:
        run = super().claim_work_order(*args, **kwargs)
        self.claimed.set()
        time.sleep(1.0)
        return run


async def test_stop_right_after_a_claim_leaves_nothing_running(home: Path, tmp_path: Path) -> None:
    h = hanging_home(home, tmp_path)
    store = SlowClaimStore(h.store.engine)
    backend, _ = fake_backend(by_role(worker=lambda spec: [Hang()]))
    reports: list[RunReport] = []

    async def daemon() -> None:
        reports.append(
            await run_daemon(h.settings, store, RunOptions(max_agents=2), backend=backend)
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(daemon)
        with anyio.fail_after(30):
            while not store.claimed.is_set():
                await anyio.sleep(0.01)
        assert h.store.request_stop() is not None
        with anyio.fail_after(30):
            while not reports:
                await anyio.sleep(0.05)
    (run,) = h.runs("worker")
    assert run.status == "interrupted"
    assert set(h.wo_statuses().values()) == {"ready"}
    h.assert_nothing_live()
