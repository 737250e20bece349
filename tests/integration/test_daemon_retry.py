"""Failed attempts: the worker's own failure and a failing check are retried with the
failure in the next prompt, up to max_attempts, then the WO fails and its track is blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents.fake_runtime import CallTool, Finish, Step, Write
from orchestrator.agents.protocol import SessionSpec
from tests.conftest import git
from tests.integration.daemon_kit import (
    by_role,
    open_home,
    payload_of,
    run_fake,
    simple_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_worker_failure_is_retried_with_the_failure_in_the_prompt(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    (wo,) = h.add_track("p", "t", ["Flaky work"])
    payloads: list[dict[str, Any]] = []

    def flaky(spec: SessionSpec) -> list[Step]:
        payload = payload_of(spec)
        payloads.append(payload)
        if payload["attempt"] < 3:
            return [
                Write("half.txt", f"attempt {payload['attempt']}\n"),
                CallTool(
                    "report_result",
                    {"status": "failed", "summary": f"broke on try {payload['attempt']}"},
                ),
                Finish(),
            ]
        return simple_worker(spec)

    await run_fake(h, by_role(worker=flaky))
    assert [p["attempt"] for p in payloads] == [1, 2, 3]
    assert payloads[0]["previous_failure"] is None
    assert "broke on try 1" in payloads[1]["previous_failure"]
    assert "broke on try 2" in payloads[2]["previous_failure"]
    row = h.wo(wo)
    assert row.status == "done" and row.attempts == 3 and row.last_error is None
    runs = h.runs("worker")
    assert [r.status for r in runs] == ["failed", "failed", "succeeded"]
    assert [r.attempt for r in runs] == [1, 2, 3]
    # Exactly one commit for the WO, whatever the number of attempts.
    assert git(repo, "log", "--no-merges", "--format=%s", "tracks/t").splitlines() == [
        f"{wo}: Flaky work",
        "initial commit",
    ]
    assert h.store.get_track("t").status == "completed"
    h.assert_nothing_live()


async def test_failing_check_retries_then_fails_with_its_output(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    check = "echo CHECK-SAYS-NO >&2; echo tests: 1 failed; exit 3"
    h.add_project("p", tmp_path / "repo", check=check)
    (wo,) = h.add_track("p", "t", ["Never passes"])
    payloads: list[dict[str, Any]] = []

    def worker(spec: SessionSpec) -> list[Step]:
        payloads.append(payload_of(spec))
        return simple_worker(spec)

    report, _ = await run_fake(h, by_role(worker=worker))
    row = h.wo(wo)
    assert row.status == "failed"
    assert row.attempts == h.settings.limits.max_attempts == 3
    assert row.last_error is not None
    assert f"check `{check}` failed" in row.last_error
    assert "CHECK-SAYS-NO" in row.last_error and "tests: 1 failed" in row.last_error
    assert len(payloads) == 3
    assert all(p["check_command"] == check for p in payloads)
    assert "CHECK-SAYS-NO" in payloads[1]["previous_failure"]
    assert [r.status for r in h.runs("worker")] == ["failed"] * 3
    # Nothing was committed for the failed WO, and the worktree was left clean for the next.
    repo = h.repos["p"]
    assert git(repo, "log", "--format=%s", "main..tracks/t") == ""
    assert git(h.settings.workspaces_dir / "p" / "t", "status", "--porcelain") == ""
    # The track cannot go on without a human: blocked (paused) with the reason named.
    track = h.store.get_track("t")
    assert track.status == "paused"
    assert track.blocked_reason is not None and "1 work orders failed" in track.blocked_reason
    assert track.merged_commit is None
    assert report.summary["work_orders"]["failed"] == 1
    text = report.path.read_text()
    assert "## Failed work orders" in text and "CHECK-SAYS-NO" in text
    h.assert_nothing_live()


async def test_check_runs_in_the_worktree_before_the_commit(home: Path, tmp_path: Path) -> None:
    """The check sees the worker's files (it runs in the track's worktree, before the commit)."""
    h = open_home(home)
    # The sandboxed check may write only its worktree: what it writes there is in the WO's
    # commit exactly when it ran before the commit.
    check = 'test -f "wo/$(ls wo | head -1)" && pwd > check-pwd'
    h.add_project("p", tmp_path / "repo", check=check)
    h.add_track("p", "t", 1)
    await run_fake(h, by_role())
    worktree = h.settings.workspaces_dir / "p" / "t"
    assert git(worktree, "show", "HEAD:check-pwd").strip() == str(worktree)
    assert all(s == "done" for s in h.wo_statuses().values())
