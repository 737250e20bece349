"""Unblocking after a failure: `orch wo retry` gives a fresh attempt budget with the last
failure in the worker's context; the track branch merges the base first (a conflict blocks,
naming the files); empty tracks and parents with running sub-tracks do not stay active or
complete early. The daemon is the real one with scripted agents; commands go through the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents.fake_runtime import CallTool, Finish, Step, Write
from orchestrator.agents.protocol import SessionSpec
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import WorkOrder
from tests.conftest import db_dump, git, run_main
from tests.integration.daemon_kit import (
    Home,
    by_role,
    open_home,
    payload_of,
    replace_settings,
    run_fake,
    simple_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def orch(home: Home, *args: str) -> str:
    result = run_main(["--home", str(home.path), *args])
    assert result.code == 0, str(result)
    return result.out


def failing(titles: set[str]) -> Any:
    """A worker that fails the WOs with these titles and does the others."""

    def worker(spec: SessionSpec) -> list[Step]:
        wo = payload_of(spec)["wo"]
        if wo["title"] in titles:
            return [
                CallTool("report_result", {"status": "failed", "summary": "BROKEN-BASE"}),
                Finish(),
            ]
        return simple_worker(spec)

    return worker


async def test_retry_gives_fresh_attempts_and_the_last_failure(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    (wo,) = h.add_track("p", "t", ["Flaky"])
    await run_fake(h, by_role(worker=failing({"Flaky"})))
    assert h.wo(wo).status == "failed"
    assert h.store.get_track("t").status == "paused"

    # A done WO is not retried; nothing changes.
    before = db_dump(home)
    result = run_main(["--home", str(home), "wo", "retry", wo, "WO-2026-999"])
    assert result.code == 2 and "unknown work order" in result.err
    assert db_dump(home) == before

    out = orch(h, "wo", "retry", "--track", "t")
    assert f"Retried 1 work orders: {wo}" in out
    payloads: list[dict[str, Any]] = []

    def worker(spec: SessionSpec) -> list[Step]:
        payloads.append(payload_of(spec))
        return simple_worker(spec)

    await run_fake(h, by_role(worker=worker))
    assert [p["attempt"] for p in payloads] == [1]
    assert "BROKEN-BASE" in payloads[0]["previous_failure"]
    assert h.wo(wo).status == "done" and h.wo(wo).attempts == 1
    assert h.store.get_track("t").status == "completed"
    # Done now: a second retry is refused with the reason.
    again = run_main(["--home", str(home), "wo", "retry", wo])
    assert again.code == 2 and "is done: only failed or blocked" in again.err


async def test_a_base_that_conflicts_with_the_track_blocks_the_retry(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo", files={"shared.txt": "base\n"})
    first, second = h.add_track("p", "t", ["Edits shared", "Breaks"])

    def worker(spec: SessionSpec) -> list[Step]:
        wo = payload_of(spec)["wo"]
        if wo["title"] == "Edits shared":
            return [
                Write("shared.txt", "track version\n"),
                CallTool("report_result", {"status": "done", "summary": "edited"}),
                Finish(),
            ]
        return failing({"Breaks"})(spec)

    await run_fake(h, by_role(worker=worker))
    assert h.wo(first).status == "done" and h.wo(second).status == "failed"
    # Meanwhile the base changed the same file.
    (repo / "shared.txt").write_text("main version\n")
    git(repo, "commit", "-qam", "main edits shared")
    orch(h, "wo", "retry", second)
    tip = git(repo, "rev-parse", "tracks/t").strip()

    started: list[str] = []

    def record(spec: SessionSpec) -> list[Step]:
        started.append(payload_of(spec)["wo"]["id"])
        return simple_worker(spec)

    report, _ = await run_fake(h, by_role(worker=record))
    track = h.store.get_track("t")
    assert track.status == "paused"
    assert track.blocked_reason is not None and "shared.txt" in track.blocked_reason
    assert "conflicts" in track.blocked_reason
    assert started == []  # the retried WO did not start on the old code
    assert h.wo(second).status == "ready"
    assert git(repo, "rev-parse", "tracks/t").strip() == tip  # nothing was forced
    assert report.summary["blocked_tracks"] == [{"id": "t", "reason": track.blocked_reason}]

    # The user merges by hand in the track's worktree, then resumes: the WO runs and lands.
    worktree = Path(track.worktree_path or "")
    merge = subprocess.run(
        ["git", "-c", "user.name=u", "-c", "user.email=u@u", "merge", "main"],
        cwd=worktree,
        capture_output=True,
    )
    assert merge.returncode != 0, merge  # the same conflict, met by hand
    assert b"CONFLICT" in merge.stdout + merge.stderr, merge
    (worktree / "shared.txt").write_text("both versions\n")
    git(worktree, "add", "shared.txt")
    git(worktree, "commit", "-q", "--no-edit")
    orch(h, "track", "resume", "t")
    await run_fake(h, by_role(worker=record))
    assert started == [second]
    assert h.store.get_track("t").status == "completed"
    assert git(repo, "show", "main:shared.txt").strip() == "both versions"


async def test_an_empty_active_track_is_blocked_not_active_forever(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.store.create_track("p", "empty", "feature")
    orch(h, "track", "ready", "empty")
    orch(h, "track", "activate", "empty")
    h.store.create_track("p", "offered", "feature")
    orch(h, "track", "ready", "offered")
    await run_fake(h, by_role())
    track = h.store.get_track("empty")
    assert track.status == "paused"
    assert track.blocked_reason is not None and "no work orders" in track.blocked_reason
    # An empty ready track is not activated (no worktree for nothing); it stays offered.
    assert h.store.get_track("offered").status == "ready"
    assert h.store.get_track("offered").worktree_path is None


async def test_a_parent_waits_for_its_sub_tracks(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    (parent_wo,) = h.add_track("p", "parent", ["Parent work"], activate=False)
    child_wo = h.store.add_work_order("p", WorkOrder(id="", title="Child work")).id
    h.store.create_track("p", "child", "feature", parent="parent")
    h.store.assign("child", [child_wo])
    h.store.set_track_status("child", TrackStatus.READY, reason="test")
    orch(h, "track", "activate", "parent")
    orch(h, "track", "activate", "child")

    await run_fake(h, by_role(worker=failing({"Child work"})))
    assert h.wo(parent_wo).status == "done" and h.wo(child_wo).status == "failed"
    assert h.store.get_track("child").status == "paused"
    parent = h.store.get_track("parent")
    assert parent.status == "active" and parent.merged_commit is None
    assert git(repo, "log", "--merges", "--format=%s", "main") == ""

    orch(h, "wo", "retry", "--track", "child")
    await run_fake(h, by_role())
    child, parent = h.store.get_track("child"), h.store.get_track("parent")
    assert child.status == parent.status == "completed"
    assert child.completed_at is not None and parent.completed_at is not None
    assert child.completed_at <= parent.completed_at
    assert h.wo(child_wo).status == "done"


async def test_a_retry_gives_a_fresh_cost_budget_per_work_order(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    replace_settings(h, "limits", max_cost_per_wo_usd=0.05)
    h.add_project("p", tmp_path / "repo")
    (wo,) = h.add_track("p", "t", ["Costly"])

    def spender(spec: SessionSpec) -> list[Step]:
        return [
            CallTool("report_result", {"status": "failed", "summary": "not yet"}),
            Finish(cost_usd=0.04),
        ]

    await run_fake(h, by_role(worker=spender))
    row = h.wo(wo)
    assert row.status == "failed" and row.last_error is not None
    assert "cost cap of $0.05 per work order reached" in row.last_error
    orch(h, "wo", "retry", wo)
    await run_fake(h, by_role())
    # The cap counts from the retry: the WO ran again (it did not fail at once on the old cost).
    assert h.wo(wo).status == "done"
