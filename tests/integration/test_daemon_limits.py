"""Unattended runs end at their limits: budget, deadline, per-WO cost cap, idleness.

Every stop is clean: no run and no WO left running, interrupted work back in line, and a
report under state/reports/ that says why the run ended.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from orchestrator.agents.fake_runtime import CallTool, Finish, Hang, Spend, Step, Write
from orchestrator.agents.protocol import SessionSpec
from orchestrator.daemon.context import RunOptions
from orchestrator.domain.budget import MIN_SHARE_USD
from tests.integration.daemon_kit import (
    by_role,
    open_home,
    payload_of,
    replace_settings,
    run_fake,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WO_COST = 0.30


def costly_worker(spec: SessionSpec) -> list[Step]:
    """Spends ``WO_COST`` over a short while, then finishes its WO."""
    wo = payload_of(spec)["wo"]
    return [
        Spend(WO_COST / 2, 1000, 100),
        Hang(0.3),
        Spend(WO_COST / 2, 1000, 100),
        Write(f"wo/{wo['id']}.txt", "x\n"),
        CallTool("report_result", {"status": "done", "summary": "ok"}),
        Finish(),
    ]


async def test_budget_stops_the_run_cleanly(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    for name in ("a", "b", "c"):
        h.add_track("p", name, 4)
    budget = 1.0
    report, runtime = await run_fake(
        h, by_role(worker=costly_worker), RunOptions(max_agents=2, budget_usd=budget)
    )
    summary = report.summary
    assert summary["stop_reason"] == f"budget ${budget:.2f} reached"
    done = summary["work_orders"]["done"]
    assert 1 <= done < 12
    # Spent the budget (less than the smallest share left over); each session stopped at
    # the turn that crossed its share, so the overshoot is one turn per session in flight.
    turn = WO_COST / 2
    assert budget - MIN_SHARE_USD <= summary["cost_usd"] <= budget + 2 * turn + 1e-9
    # No session was given more than what was left when it started.
    assert all(s.limits.max_cost_usd is not None for s in runtime.specs)
    text = report.path.read_text()
    assert "stopped because: budget" in text
    assert report.path.parent == h.settings.reports_dir
    h.assert_nothing_live()
    statuses = h.wo_statuses()
    assert list(statuses.values()).count("done") == done
    # What was running at the stop went back in line, with its session kept to resume.
    for run in h.runs("worker"):
        if run.status == "interrupted":
            assert statuses[str(run.wo_id)] == "ready"
            # A session the stop reached before it began (a loaded machine) had none to keep.
            assert run.session_id is not None or (run.turns == 0 and run.cost_usd == 0), run


async def test_deadline_stops_hanging_workers(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    wos = h.add_track("p", "a", 2) + h.add_track("p", "b", 2)
    until = datetime.now(UTC) + timedelta(seconds=2)
    started = anyio.current_time()
    report, _ = await run_fake(
        h, by_role(worker=lambda spec: [Hang()]), RunOptions(max_agents=3, until=until)
    )
    elapsed = anyio.current_time() - started
    assert report.summary["stop_reason"] == f"deadline {until:%H:%M} reached"
    assert elapsed < 15, elapsed
    workers = h.runs("worker")
    assert len(workers) == 2  # one per track, however many slots
    assert {r.status for r in workers} == {"interrupted"}
    assert all(r.error and "deadline" in r.error for r in workers)
    assert all(h.wo_statuses()[w] in {"ready", "backlog"} for w in wos)
    # Each interrupted worker left a checkpoint to resume from.
    for run in workers:
        assert any(
            e.data.get("reason") == "interrupted" and e.run_id == run.id
            for e in h.events("checkpoint")
        ), run.id
    h.assert_nothing_live()
    assert "deadline" in report.path.read_text()


async def test_deadline_already_past_starts_nothing(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "a", 2)
    until = datetime.now(UTC) - timedelta(seconds=1)
    report, runtime = await run_fake(h, by_role(), RunOptions(max_agents=2, until=until))
    assert report.summary["stop_reason"].startswith("deadline")
    assert runtime.specs == []
    h.assert_nothing_live()


async def test_per_wo_cost_cap_fails_the_wo(home: Path, tmp_path: Path) -> None:
    """A WO that would spend past its cap is cut off and then failed, not retried forever."""
    h = open_home(home)
    replace_settings(h, "limits", max_cost_per_wo_usd=0.5, max_attempts=5)
    h.add_project("p", tmp_path / "repo")
    (wo,) = h.add_track("p", "a", 1)

    def spender(spec: SessionSpec) -> list[Step]:
        return [Spend(0.2), Spend(0.2), Spend(0.2), Hang(5.0), Finish()]

    report, _ = await run_fake(h, by_role(worker=spender), RunOptions(exit_when_idle=True))
    row = h.wo(wo)
    assert row.status == "failed"
    assert row.last_error is not None and "cost cap" in row.last_error
    # One attempt, cut off where it would pass the cap, and no retry.
    (run,) = h.runs("worker")
    assert run.status == "failed"
    assert run.error is not None and "max_cost limit exceeded" in run.error
    # The turn that crossed the cap was spent (and is counted); nothing after it.
    assert 0.5 < h.store.wo_cost(wo) <= 0.5 + 0.2 + 1e-9
    assert h.store.get_track("a").status == "paused"
    h.assert_nothing_live()
    assert "cost cap" in report.path.read_text()


async def test_exit_when_idle_with_nothing_to_do(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    with anyio.fail_after(30):
        report, runtime = await run_fake(h, by_role())
    assert report.summary["stop_reason"].startswith("idle")
    assert runtime.specs == []
    assert report.path.is_file()
