"""Finishing tracks: one commit per WO on the track branch, a --no-ff merge into the base
branch, and a merge conflict that blocks the later track without touching the base."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from orchestrator.agents.fake_runtime import CallTool, FakeRuntime, Finish, Step, Write
from orchestrator.agents.protocol import SessionSpec
from orchestrator.daemon.context import DaemonContext, RunOptions
from orchestrator.daemon.merging import finish_track
from orchestrator.daemon.workspace import archive_track
from orchestrator.domain.lifecycle import RunStatus, TrackStatus, WOStatus
from tests.conftest import git
from tests.integration.daemon_kit import by_role, open_home, payload_of, run_fake, show

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def writes_shared(spec: SessionSpec) -> list[Step]:
    """Every track's worker writes ``shared.txt``, each with its own content."""
    payload = payload_of(spec)
    track = payload["track"]["id"]
    return [
        Write("shared.txt", f"written by {track}\n"),
        Write(f"{track}.txt", f"{track} only\n"),
        CallTool("report_result", {"status": "done", "summary": "wrote shared.txt"}),
        Finish(),
    ]


async def test_one_commit_per_wo_and_no_ff_merge(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    initial = git(repo, "rev-parse", "main").strip()
    wos = h.add_track("p", "feat", ["Add the parser", "Add the printer", "Add the docs"])
    await run_fake(h, by_role())
    track = h.store.get_track("feat")
    assert track.status == "completed"
    # One commit per WO on the track branch, titled `WO-…: title`, with the WO trailer.
    subjects = git(repo, "log", "--reverse", "--format=%s", f"{initial}..tracks/feat")
    titles = {w["id"]: w["title"] for w in h.store.list_work_orders()}
    assert subjects.splitlines() == [f"{w}: {titles[w]}" for w in wos]
    for wo in wos:
        assert h.wo(wo).done_commit is not None
        body = git(repo, "log", "-1", "--format=%B", str(h.wo(wo).done_commit))
        assert f"Orchestrator-WO: {wo}" in body
    # Merged with a merge commit (never fast-forwarded, never forced), the base advanced.
    tip = git(repo, "rev-parse", "main").strip()
    assert track.merged_commit == tip
    parents = git(repo, "rev-list", "--parents", "-n1", tip).split()[1:]
    assert parents == [initial, git(repo, "rev-parse", "tracks/feat").strip()]
    assert git(repo, "log", "--merges", "--format=%s", "main").startswith("Merge track feat")
    # The user's checkout of main followed the merge and is clean.
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "wo" / f"{wos[0]}.txt").is_file()
    # The worktree lived under workspaces/<project>/<track> on tracks/<track>.
    worktree = h.settings.workspaces_dir / "p" / "feat"
    assert track.worktree_path == str(worktree)
    listing = git(repo, "worktree", "list", "--porcelain")
    assert f"worktree {worktree}\nHEAD {parents[1]}\nbranch refs/heads/tracks/feat" in listing
    # Archiving removes the worktree and keeps the branch.
    archive_track(h.store, "feat", "done with it")
    assert not worktree.exists()
    assert str(worktree) not in git(repo, "worktree", "list", "--porcelain")
    assert git(repo, "rev-parse", "tracks/feat").strip() == parents[1]
    assert h.store.get_track("feat").status == TrackStatus.ARCHIVED.value


async def test_merge_conflict_blocks_the_later_track(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo", files={"shared.txt": "base\n"})
    h.add_track("p", "first", 1)
    h.add_track("p", "second", 1)
    # One slot: "first" (the older track) runs, finishes and merges before "second" starts.
    report, _ = await run_fake(
        h, by_role(worker=writes_shared), RunOptions(max_agents=1, exit_when_idle=True)
    )
    first, second = h.store.get_track("first"), h.store.get_track("second")
    assert first.status == "completed"
    assert second.status == "paused"
    assert second.blocked_reason is not None
    assert "merge conflict" in second.blocked_reason
    assert "shared.txt" in second.blocked_reason
    assert "second.txt" not in second.blocked_reason
    # The base branch is exactly the first merge: the failed merge moved nothing.
    tip = git(repo, "rev-parse", "main").strip()
    assert tip == first.merged_commit
    assert second.merged_commit is None
    assert show(repo, "main", "shared.txt") == "written by first\n"
    assert (repo / "shared.txt").read_text() == "written by first\n"
    assert not (repo / "second.txt").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    # The second track's work is kept on its branch for a human to resolve.
    assert show(repo, "tracks/second", "shared.txt") == "written by second\n"
    assert all(s == "done" for s in h.wo_statuses().values())
    # The run report names the blocked track and why.
    text = report.path.read_text()
    assert "## Blocked tracks" in text and "second" in text and "shared.txt" in text
    h.assert_nothing_live()
    # A paused track gets no slot in the next run either.
    _, runtime = await run_fake(h, by_role(worker=writes_shared))
    assert [s for s in runtime.specs if s.role.value == "worker"] == []
    assert git(repo, "rev-parse", "main").strip() == tip


async def test_disjoint_tracks_both_merge(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    h.add_track("p", "left", 2)
    h.add_track("p", "right", 2)
    await run_fake(h, by_role(), RunOptions(max_agents=2, exit_when_idle=True))
    assert {t["status"] for t in h.store.list_tracks()} == {"completed"}
    merges = git(repo, "log", "--merges", "--format=%s", "main").splitlines()
    assert sorted(m.split(":")[0] for m in merges) == ["Merge track left", "Merge track right"]
    for wo in h.wo_statuses():
        assert show(repo, "main", f"wo/{wo}.txt")


async def test_finishing_a_track_twice_is_harmless(home: Path, tmp_path: Path) -> None:
    """A track step and a dispatch round may both finish a track (the second with a stale
    row): the second finish changes nothing and raises nothing."""
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    h.add_track("p", "t", 1)
    stale = h.store.get_track("t")
    (wo,) = h.wo_statuses()
    # Do the WO by hand: one commit on the track branch, WO done.
    worktree = Path(str(stale.worktree_path))
    (worktree / "f.txt").write_text("x\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", f"{wo}: by hand")
    run = h.store.claim_work_order(wo, "t", "test")
    h.store.finish_run(run.id, RunStatus.SUCCEEDED, wo_status=WOStatus.DONE)
    ctx = DaemonContext(
        settings=h.settings,
        store=h.store,
        runtime=FakeRuntime({}),
        daemon_id="test",
        options=RunOptions(),
        log=structlog.get_logger(),
    )
    assert await finish_track(ctx, stale) is TrackStatus.COMPLETED
    tip = git(repo, "rev-parse", "main").strip()
    assert await finish_track(ctx, stale) is TrackStatus.COMPLETED
    assert git(repo, "rev-parse", "main").strip() == tip
    assert [e.to_status for e in h.events("track_status") if e.subject_id == "t"][-1] == (
        "completed"
    )
    assert len([e for e in h.events("track_status") if e.to_status == "completed"]) == 1
