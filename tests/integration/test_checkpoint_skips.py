"""Checkpoints at WO boundaries without repeated git work.

A WO's done checkpoint follows its commit (everything in the worktree was just committed):
it asks git nothing. The next WO's start checkpoint would record the same state again: it
is not written while HEAD, a clean worktree, a successful push and the track's newest
checkpoint are all still those of the last one, and is written as soon as any differs.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from orchestrator.daemon.checkpoints import write_checkpoint_sync
from orchestrator.domain.checkpoint import CheckpointRecord
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.git import GitRepo
from orchestrator.git.runner import git_processes_started
from orchestrator.git.testing import write_files
from orchestrator.store.contract import Store
from orchestrator.store.tables import CheckpointRow
from tests.conftest import OrchRunner, git, init_git_repo
from tests.integration.daemon_kit import Home, by_role, open_home, run_fake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def checkpoint(
    store: Store, repo: GitRepo, worktree: Path, reason: str, **extra: Any
) -> CheckpointRecord | None:
    return write_checkpoint_sync(
        store, repo, "feat", worktree, run_id=None, wo_id=None, attempt=1,
        session_id=None, cost_usd=0.0, reason=reason, **extra,
    )  # fmt: skip


def reasons(h: Home, track: str = "feat") -> list[str]:
    with h.store.reading() as session:
        rows = session.exec(
            select(CheckpointRow)
            .where(CheckpointRow.track_id == track)
            .order_by(col(CheckpointRow.id))
        )
        return [r.reason for r in rows]


def git_count() -> int:
    return sum(git_processes_started().values())


def active_track(home: Path, tmp_path: Path) -> tuple[Home, GitRepo, Path]:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    h.add_track("p", "feat", 1)
    return h, GitRepo(repo), Path(h.store.get_track("feat").worktree_path or "")


def test_a_start_checkpoint_of_an_unchanged_worktree_is_not_written_again(
    home: Path, tmp_path: Path
) -> None:
    h, repo, worktree = active_track(home, tmp_path)
    write_files(worktree, {"a.txt": "a\n"})
    sha = repo.commit_all(worktree, "WO-1: a", allow_empty=True, branch="tracks/feat")
    assert sha is not None
    before = git_count()
    done = checkpoint(h.store, repo, worktree, "wo_done", committed=sha)
    assert git_count() == before  # the commit's sha is HEAD, and nothing is left over
    assert done is not None and (done.head_sha, done.snapshot_ref) == (sha, None)
    before = git_count()
    assert checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True) is None
    assert git_count() == before + 1  # one `git status` tells HEAD and cleanliness
    assert reasons(h) == ["wo_done"]

    # Another commit: HEAD moved, so the start is written (once).
    write_files(worktree, {"b.txt": "b\n"})
    moved = repo.commit_all(worktree, "merge of the base", branch="tracks/feat")
    start = checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True)
    assert start is not None and start.head_sha == moved
    assert checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True) is None

    # Uncommitted work: a snapshot each time, never skipped.
    write_files(worktree, {"c.txt": "left over\n"})
    for _ in range(2):
        dirty = checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True)
        assert dirty is not None and dirty.snapshot_sha is not None
    (worktree / "c.txt").unlink()
    assert checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True) is not None
    assert checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True) is None

    # A newer checkpoint written by someone else is the track's newest: the start follows it.
    assert start is not None
    h.store.add_checkpoint(start)
    assert checkpoint(h.store, repo, worktree, "wo_start", unless_unchanged=True) is not None
    # the start, two dirty ones, the clean one after them, the other's, the one after it
    assert reasons(h) == ["wo_done", *["wo_start"] * 6]
    # Without unless_unchanged (an interruption, a failure) it is always written.
    assert checkpoint(h.store, repo, worktree, "interrupted") is not None


def test_a_start_checkpoint_is_written_when_the_last_push_failed(
    home: Path, orch: OrchRunner, make_repo: Any, tmp_path: Path
) -> None:
    """The push rides on the checkpoint: after one that failed, the next one pushes again."""
    from tests.integration.test_project_remote import active_track_on_remote, remote_ref

    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    store, repo_path, worktree = active_track_on_remote(home, orch, make_repo, bare)
    repo = GitRepo(repo_path)

    def cp(reason: str, **extra: Any) -> CheckpointRecord | None:
        return write_checkpoint_sync(
            store, repo, "t1", worktree, run_id=None, wo_id=None, attempt=1,
            session_id=None, cost_usd=0.0, reason=reason, **extra,
        )  # fmt: skip

    write_files(worktree, {"a.txt": "a\n"})
    sha = repo.commit_all(worktree, "WO-1: a", branch="tracks/t1")
    hidden = tmp_path / "remote-away.git"
    bare.rename(hidden)  # the remote unreachable for a while
    assert cp("wo_done", committed=sha) is not None
    assert cp("wo_start", unless_unchanged=True) is not None  # pushes again (fails again)
    hidden.rename(bare)
    assert cp("wo_start", unless_unchanged=True) is not None  # pushed this time
    assert remote_ref(bare, "refs/heads/tracks/t1") == sha
    assert cp("wo_start", unless_unchanged=True) is None
    shutil.rmtree(hidden, ignore_errors=True)
    store.close()


async def test_a_track_of_three_wos_writes_one_start_checkpoint(home: Path, tmp_path: Path) -> None:
    """Each WO's done checkpoint names its commit; the WOs after the first start from it."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    wos = h.add_track("p", "feat", 3)
    before = git_processes_started()
    await run_fake(h, by_role())
    started = {k: n - before.get(k, 0) for k, n in git_processes_started().items()}
    assert all(h.wo(w).status == "done" for w in wos)
    # One `git status` per WO, at its start (the first writes its checkpoint, the others
    # find the state unchanged); the done checkpoints ask git nothing, the commits no diff.
    assert started.get("status") == 3 and started.get("diff", 0) == 0, started
    assert reasons(h) == ["wo_start", "wo_done", "wo_done", "wo_done"]
    with h.store.reading() as session:
        done = session.exec(
            select(CheckpointRow)
            .where(CheckpointRow.reason == "wo_done")
            .order_by(col(CheckpointRow.id))
        )
        heads = [(r.wo_id, r.head_sha, r.snapshot_ref) for r in done]
    assert heads == [(w, h.wo(w).done_commit, None) for w in wos]
    h.assert_nothing_live()


async def test_a_done_checkpoint_finishes_beside_the_next_wos_claim(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first WO's done checkpoint is held until the second WO is claimed: it can only
    be released because the track's next step does not wait for it (its start checkpoint
    does, so the checkpoints stay in order)."""
    from orchestrator.daemon import checkpoints

    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    first, second = h.add_track("p", "feat", 2)
    write = checkpoints.write_checkpoint_sync
    seen: list[bool] = []

    def second_claimed() -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if h.store.get_work_order(second)[1].status is WOStatus.RUNNING:
                return True
            time.sleep(0.05)
        return False

    def held(*args: Any, **fields: Any) -> CheckpointRecord | None:
        if fields["reason"] == "wo_done" and fields["wo_id"] == first:
            seen.append(second_claimed())
        return write(*args, **fields)

    monkeypatch.setattr(checkpoints, "write_checkpoint_sync", held)
    await run_fake(h, by_role())
    assert seen == [True]
    assert {h.wo(w).status for w in (first, second)} == {"done"}
    assert reasons(h) == ["wo_start", "wo_done", "wo_done"]
    h.assert_nothing_live()


async def test_with_a_remote_the_done_checkpoint_is_pushed_before_the_step_ends(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push must land before the track's merge pushes the branch too (or another host
    takes the track over from the remote's branch): no done checkpoint runs beside."""
    from orchestrator.daemon import checkpoints

    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    h = open_home(home)
    repo = init_git_repo(tmp_path / "repo")
    git(repo, "push", "--quiet", str(bare), "main")
    h.store.add_project("p", str(repo), "main", "", remote=str(bare))
    wos = h.add_track("p", "feat", 2)
    write = checkpoints.write_checkpoint_sync
    beside: list[bool] = []

    def watched(*args: Any, **fields: Any) -> CheckpointRecord | None:
        if fields["reason"] == "wo_done":
            beside.append(bool(checkpoints._BESIDE))
        return write(*args, **fields)

    monkeypatch.setattr(checkpoints, "write_checkpoint_sync", watched)
    await run_fake(h, by_role())
    assert beside == [False, False]
    assert {h.wo(w).status for w in wos} == {"done"}
    assert h.store.get_track("feat").status == "completed"
    h.assert_nothing_live()
