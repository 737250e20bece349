"""Rate limits park for what the server said, not a fixed default.

Through the real CLI: the simulator answers 429 with ``retry-after: 1``; the CLI's own
``api_retry`` message carries that delay, and every recorded park lasts about that long
(never the 60 s default). With scripted agents: a ``rate_limit_event`` at
``allowed_warning`` holds back new sessions until its reset time.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.agents.events import RateLimitNotice
from orchestrator.agents.fake_runtime import Emit, Step
from orchestrator.agents.protocol import SessionSpec
from orchestrator.agents.retry import DEFAULT_RETRY_POLICY
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.runner import run_daemon
from orchestrator.domain.parking import ParkScope, current_parks
from orchestrator.sim import SimServer
from orchestrator.sim.handler import RETRY_AFTER_S
from tests.conftest import orch_subprocess
from tests.integration.daemon_kit import by_role, open_home, run_fake, simple_worker
from tests.support.recovery_home import claude_backend

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: Parks to see before the simulator stops refusing.
PARKS = 3


def test_parks_last_as_long_as_retry_after_says(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("app", tmp_path / "app")
    wos = h.add_track("app", "core", 2)
    started = datetime.now(UTC)
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with SimServer(faults="429:1", seed=5) as sim:

            async def heal_after_parks() -> None:
                while len(h.store.parks_since(started)) < PARKS:
                    await anyio.sleep(0.05)
                # What `orch status` (its own process) shows while sessions are parked: the
                # parks are short, so ask until one is caught live (the 429s go on meanwhile).
                for _ in range(30):
                    done = await anyio.to_thread.run_sync(
                        lambda: orch_subprocess(home, "status", "--json")
                    )
                    seen["status"] = json.loads(done.stdout)
                    if any(p["scope"] == "session" for p in seen["status"]["parked"]):
                        break
                sim.set_faults("")

            async with anyio.create_task_group() as tg:
                tg.start_soon(heal_after_parks)
                with anyio.fail_after(240):
                    report = await run_daemon(
                        h.settings,
                        h.store,
                        RunOptions(max_agents=2, exit_when_idle=True),
                        backend=claude_backend(h.settings.owner_id, h.store, sim),
                    )
            seen["report"] = report
            seen["faults"] = sim.stats()["faults"]

    try:
        anyio.run(main)
        parks = h.store.parks_since(started)
        attempts = {wo: h.wo(wo).attempts for wo in wos}
        statuses = {wo: h.wo(wo).status for wo in wos}
    finally:
        h.store.close()
    assert seen["faults"].get("429", 0) >= 2 * PARKS, "the CLI retried each refused request once"
    assert len(parks) >= PARKS and {p.scope for p in parks} == {ParkScope.SESSION}
    delays = [p.delay_s for p in parks]
    jitter = DEFAULT_RETRY_POLICY.jitter_s
    for delay in delays:
        assert delay is not None
        # retry-after (the CLI adds up to ~15% of it) plus our jitter; never the default.
        assert RETRY_AFTER_S <= delay <= RETRY_AFTER_S * 1.25 + jitter, delays
        assert delay < DEFAULT_RETRY_POLICY.default_park_s / 10
    for park in parks:
        assert park.until is not None
        # Resume time = when it parked + the delay (the journal row is written just after).
        assert abs((park.until - park.at).total_seconds() - (park.delay_s or 0)) < 0.5
    # Parked, not failed: each WO done at its first attempt.
    assert statuses == dict.fromkeys(wos, "done")
    assert set(attempts.values()) == {1}
    # `orch status` listed the parked sessions with their resume time.
    listed = [p for p in seen["status"]["parked"] if p["scope"] == "session"]
    assert listed and all(p["until"] for p in listed)
    # The report lists every park.
    summary = seen["report"].summary
    assert len(summary["parked"]) == len(parks)
    text = seen["report"].path.read_text()
    assert "## Parked" in text and "rate limited" in text


async def test_allowed_warning_holds_new_sessions_until_the_reset(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    h.add_project("app", tmp_path / "app")
    h.add_track("app", "one", 1)
    h.add_track("app", "two", 1)
    hold_s = 3.0
    resets = {"at": 0.0}
    starts: list[tuple[str, float]] = []

    def worker(spec: SessionSpec) -> list[Step]:
        starts.append((spec.labels.get("track_id", ""), time.time()))
        steps: list[Step] = []
        if len(starts) == 1:
            resets["at"] = time.time() + hold_s
            steps.append(Emit(RateLimitNotice("allowed_warning", resets["at"], "five_hour")))
        return [*steps, *simple_worker(spec)]

    # One slot: the second track's worker is a new session after the notice.
    report, _ = await run_fake(
        h, by_role(worker=worker), RunOptions(max_agents=1, exit_when_idle=True), timeout=90
    )
    assert len(starts) == 2
    assert starts[1][1] >= resets["at"], "no session started before the reset"
    parks = [p for p in h.store.latest_parks() if p.scope is ParkScope.NEW_SESSIONS]
    assert len(parks) == 1 and parks[0].until is not None
    assert abs(parks[0].until.timestamp() - resets["at"]) < 0.01
    assert report.summary["work_orders"] == {"done": 2, "failed": 0}
    assert any("no new sessions" in line for line in report.summary["parked"])
    # While the daemon lives and the reset is ahead, status shows the hold; after, not.
    before = parks[0].until - timedelta(seconds=1)
    assert current_parks(parks, daemon_live=True, now=before) == parks
    assert current_parks(parks, daemon_live=True, now=parks[0].until) == []
    assert current_parks(parks, daemon_live=False, now=before) == []
    h.store.close()
