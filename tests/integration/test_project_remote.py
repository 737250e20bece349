"""A project with a shared remote: `orch project add --remote`, checkpoints published to the
remote, a track finished on one host and merged through the remote, a second host's clone."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from orchestrator.daemon.checkpoints import write_checkpoint_sync
from orchestrator.daemon.hosting import ensure_clones
from orchestrator.daemon.merging import complete_track
from orchestrator.daemon.workspace import activate_track, ensure_track_worktree
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.git import GitRepo, run_git
from orchestrator.git.remote import clone_from
from orchestrator.git.testing import write_files
from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import OrchRunner, git

pytestmark = pytest.mark.integration


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


def remote_ref(bare: Path, ref: str) -> str | None:
    result = run_git(["rev-parse", "--verify", "--quiet", ref], bare, check=False)
    return result.stdout.strip() or None


def test_project_add_with_a_remote_stores_it_and_seeds_the_base_branch(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], bare: Path
) -> None:
    repo = make_repo("demo")
    out = orch.ok("project", "add", repo, "--remote", bare).out
    assert f"remote {bare}" in out
    (listed,) = orch.json("project", "list")
    assert listed["remote"] == str(bare)
    assert remote_ref(bare, "refs/heads/main") == git(repo, "rev-parse", "main").strip()


def test_bad_remotes_are_refused_and_nothing_is_added(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo("demo")
    other = make_repo("not-bare")
    for remote in ("ext::sh -c id", "ftp://host/x", str(tmp_path / "missing"), str(other), "-x"):
        result = orch.fails("project", "add", repo, "--remote", remote)
        assert result.err.startswith("orch: error:") and "remote" in result.err, result.err
    assert orch.json("project", "list") == []


def active_track_on_remote(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], bare: Path
) -> tuple[SQLiteStore, Path, Path]:
    """Host alpha's project ``demo`` with remote ``bare``, and its track t1 active: the
    store (to close), the project's repository and the track's worktree."""
    repo_path = make_repo("demo")
    orch.ok("init", "--host-id", "alpha")
    orch.ok("project", "add", repo_path, "--remote", bare)
    store = SQLiteStore.open(home / "state" / "orchestrator.db")
    store.place_here("alpha", home / "clones")
    store.create_track("demo", "t1", "feature")
    store.set_track_status("t1", TrackStatus.READY)
    track = activate_track(store, home / "workspaces", "t1", "test")
    return store, repo_path, Path(track.worktree_path or "")


def test_checkpoints_publish_and_the_merge_goes_through_the_remote(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], bare: Path, tmp_path: Path
) -> None:
    store, repo_path, worktree = active_track_on_remote(home, orch, make_repo, bare)
    repo = GitRepo(repo_path)

    write_files(worktree, {"feature.txt": "work in progress\n"})
    record = write_checkpoint_sync(
        store, repo, "t1", worktree, run_id=None, wo_id=None, attempt=1,
        session_id=None, cost_usd=0.0, reason="interrupted",
    )  # fmt: skip
    assert record.snapshot_ref is not None
    assert remote_ref(bare, record.snapshot_ref) == record.snapshot_sha
    assert remote_ref(bare, "refs/heads/tracks/t1") == record.head_sha

    sha = repo.commit_all(worktree, "WO-2026-001: feature")
    write_checkpoint_sync(
        store, repo, "t1", worktree, run_id=None, wo_id=None, attempt=1,
        session_id=None, cost_usd=0.0, reason="wo_done",
    )  # fmt: skip
    assert remote_ref(bare, "refs/heads/tracks/t1") == sha

    # Meanwhile another host merged into the remote's main: our merge must include it.
    elsewhere = GitRepo(clone_from(str(bare), tmp_path / "elsewhere", "main"))
    write_files(elsewhere.path, {"other.txt": "other host\n"})
    theirs = elsewhere.commit_all(elsewhere.path, "other host's work")
    elsewhere.git("push", "--quiet", str(bare), "main")

    status = complete_track(store, structlog.get_logger(), "t1", "all work orders done")
    assert status == TrackStatus.COMPLETED
    merged = store.get_track("t1").merged_commit
    assert merged is not None and remote_ref(bare, "refs/heads/main") == merged
    parents = run_git(["rev-list", "--parents", "-n1", merged], bare).stdout.split()
    assert parents[1:] == [theirs, sha]
    assert repo.head("refs/heads/main") == merged  # the local base followed
    assert store.try_lock("merge:demo", "someone", 1.0)  # the merge lock was released
    store.close()


def test_another_host_works_in_its_own_clone(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], bare: Path, tmp_path: Path
) -> None:
    repo_path = make_repo("demo")
    orch.ok("init", "--host-id", "alpha")
    orch.ok("project", "add", repo_path, "--remote", bare)
    store = SQLiteStore.open(home / "state" / "orchestrator.db")
    assert store.get_project("demo").path == str(repo_path)  # paths as stored
    store.place_here("alpha", tmp_path / "alpha-clones")
    assert store.get_project("demo").path == str(repo_path)  # the adding host's own
    store.place_here("beta", tmp_path / "beta-clones")
    (project,) = store.list_projects()
    assert project.path == str(tmp_path / "beta-clones" / "demo")
    assert store.get_project("demo").path == project.path
    store.close()
    # What is stored did not change (the copy is not written back).
    reread = SQLiteStore.open(home / "state" / "orchestrator.db")
    assert reread.get_project("demo").path == str(repo_path)
    reread.close()


def test_a_second_host_clones_the_project_and_takes_the_track_branch(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], bare: Path, tmp_path: Path
) -> None:
    store, repo_path, worktree = active_track_on_remote(home, orch, make_repo, bare)
    write_files(worktree, {"feature.txt": "done on alpha\n"})
    sha = GitRepo(repo_path).commit_all(worktree, "WO-2026-001: feature")
    write_checkpoint_sync(
        store, GitRepo(repo_path), "t1", worktree, run_id=None, wo_id=None, attempt=1,
        session_id=None, cost_usd=0.0, reason="wo_done",
    )  # fmt: skip

    # Host beta: same database, its own home; no checkout of the project yet.
    store.place_here("beta", tmp_path / "beta" / "clones")
    assert ensure_clones(store, structlog.get_logger()) == ["demo"]
    clone = GitRepo(tmp_path / "beta" / "clones" / "demo")
    assert clone.current_branch(clone.path) == "main"
    assert ensure_clones(store, structlog.get_logger()) == []  # made once
    rebuilt = ensure_track_worktree(store, tmp_path / "beta" / "workspaces", store.get_track("t1"))
    assert clone.head("HEAD", rebuilt) == sha
    assert (rebuilt / "feature.txt").read_text() == "done on alpha\n"
    store.close()
