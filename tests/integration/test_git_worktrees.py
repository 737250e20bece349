"""Worktree add/remove/list/prune and the repo-wide lock, against real git."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.errors import GitError
from orchestrator.git import REPO_LOCK_NAME, GitRepo, RepoLock, track_branch
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "project", {"README.md": "hello\n"})


@pytest.fixture
def workspaces(tmp_path: Path) -> Path:
    return tmp_path / "workspaces"


def test_add_worktree_creates_track_branch_from_base(repo: GitRepo, workspaces: Path) -> None:
    path = workspaces / "auth"
    wt = repo.add_worktree(path, track_branch("auth"), "main")
    assert wt.path == path.resolve()
    assert wt.branch == "tracks/auth"
    assert wt.head == repo.head("main")
    assert not wt.is_locked and not wt.is_prunable
    assert (path / "README.md").read_text() == "hello\n"
    assert repo.current_branch(path) == "tracks/auth"
    listed = repo.list_worktrees()
    assert [w.path for w in listed] == [repo.path, path.resolve()]
    assert listed[0].branch == "main"


def test_add_worktree_reuses_an_existing_branch(repo: GitRepo, workspaces: Path) -> None:
    repo.add_worktree(workspaces / "a", "tracks/a", "main")
    write_files(workspaces / "a", {"work.txt": "w"})
    sha = repo.commit_all(workspaces / "a", "work")
    repo.remove_worktree(workspaces / "a")
    wt = repo.add_worktree(workspaces / "a2", "tracks/a", "main")
    assert wt.head == sha  # resuming a track keeps its commits
    assert (workspaces / "a2" / "work.txt").exists()


def test_add_worktree_refusals(repo: GitRepo, workspaces: Path) -> None:
    with pytest.raises(GitError, match="no start point"):
        repo.add_worktree(workspaces / "x", "tracks/x")
    busy = workspaces / "busy"
    write_files(busy, {"keep.txt": "mine"})
    with pytest.raises(GitError, match="not empty"):
        repo.add_worktree(busy, "tracks/busy", "main")
    assert (busy / "keep.txt").read_text() == "mine"
    repo.add_worktree(workspaces / "one", "tracks/one", "main")
    with pytest.raises(GitError, match="already checked out"):
        repo.add_worktree(workspaces / "two", "tracks/one", "main")
    empty = workspaces / "empty"
    empty.mkdir()
    assert repo.add_worktree(empty, "tracks/empty", "main").branch == "tracks/empty"


def test_remove_worktree_clean_keeps_branch(repo: GitRepo, workspaces: Path) -> None:
    path = workspaces / "a"
    repo.add_worktree(path, "tracks/a", "main")
    write_files(repo.path, {".gitignore": "build/\n"})
    assert repo.remove_worktree(path) is None
    assert not path.exists()
    assert repo.branch_exists("tracks/a")
    assert repo.find_worktree(path) is None
    assert repo.remove_worktree(path) is None  # idempotent


def test_remove_worktree_refuses_uncommitted_work(repo: GitRepo, workspaces: Path) -> None:
    path = workspaces / "a"
    repo.add_worktree(path, "tracks/a", "main")
    write_files(path, {"precious.txt": "unsaved"})
    with pytest.raises(GitError, match=r"uncommitted work"):
        repo.remove_worktree(path)
    assert (path / "precious.txt").read_text() == "unsaved"


def test_remove_worktree_with_snapshot(repo: GitRepo, workspaces: Path) -> None:
    path = workspaces / "a"
    repo.add_worktree(path, "tracks/a", "main")
    write_files(path, {"precious.txt": "unsaved"})
    ref = "refs/orchestrator/checkpoints/a/1"
    sha = repo.remove_worktree(path, snapshot_ref=ref)
    assert sha is not None
    assert not path.exists()
    assert [(r.ref, r.sha) for r in repo.list_snapshot_refs("refs/orchestrator")] == [(ref, sha)]
    assert repo.git("show", f"{sha}:precious.txt").stdout == "unsaved"


def test_remove_worktree_refuses_main_and_strangers(repo: GitRepo, workspaces: Path) -> None:
    with pytest.raises(GitError, match="main worktree"):
        repo.remove_worktree(repo.path)
    repo.add_worktree(workspaces / "a", "tracks/a", "main")
    from_linked = GitRepo(workspaces / "a")
    assert from_linked.common_dir == repo.common_dir
    with pytest.raises(GitError, match="main worktree"):
        from_linked.remove_worktree(repo.path)
    stranger = workspaces / "stranger"
    write_files(stranger, {"f": "x"})
    with pytest.raises(GitError, match="not a registered worktree"):
        repo.remove_worktree(stranger)


def test_remove_worktree_whose_directory_is_gone(repo: GitRepo, workspaces: Path) -> None:
    path = workspaces / "a"
    repo.add_worktree(path, "tracks/a", "main")
    repo.git("worktree", "lock", "--reason", "busy", str(path))
    shutil.rmtree(path)
    repo.remove_worktree(path)
    assert repo.find_worktree(path) is None


def test_list_reports_locked_and_prunable(repo: GitRepo, workspaces: Path) -> None:
    repo.add_worktree(workspaces / "locked", "tracks/locked", "main")
    repo.add_worktree(workspaces / "gone", "tracks/gone", "main")
    repo.git("worktree", "lock", "--reason", "on a USB disk", str(workspaces / "locked"))
    shutil.rmtree(workspaces / "gone")
    by_name = {w.path.name: w for w in repo.list_worktrees()}
    assert by_name["locked"].locked == "on a USB disk"
    assert by_name["gone"].is_prunable
    repo.prune()
    names = {w.path.name for w in repo.list_worktrees()}
    assert "gone" not in names and "locked" in names


def test_repair_relinks_a_moved_worktree(repo: GitRepo, workspaces: Path) -> None:
    repo.add_worktree(workspaces / "a", "tracks/a", "main")
    (workspaces / "a").rename(workspaces / "b")
    repo.repair([workspaces / "b"])
    wt = repo.find_worktree(workspaces / "b")
    assert wt is not None and wt.branch == "tracks/a"


def test_concurrent_adds_from_threads_all_succeed(repo: GitRepo, workspaces: Path) -> None:
    names = [f"t{n}" for n in range(8)]
    barrier = threading.Barrier(len(names))

    def add(name: str) -> str | None:
        barrier.wait(timeout=10)
        # One basename for all: git must pick distinct admin dirs under .git/worktrees/.
        return repo.add_worktree(workspaces / name / "wt", track_branch(name), "main").branch

    with ThreadPoolExecutor(len(names)) as pool:
        branches = list(pool.map(add, names))
    assert branches == [f"tracks/{n}" for n in names]
    assert len(repo.list_worktrees()) == len(names) + 1
    assert repo.fsck_ok()


def test_repo_lock_serialises_config_writes(repo: GitRepo, workspaces: Path) -> None:
    # "worktree add --track" writes .git/config; unlocked, parallel runs fail on config.lock.
    names = [f"c{n}" for n in range(12)]
    barrier = threading.Barrier(len(names))

    def add(name: str) -> None:
        barrier.wait(timeout=10)
        with repo.lock():
            repo.git("worktree", "add", "-q", "--track", "-b", name, str(workspaces / name), "main")

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(add, names))
    assert len(repo.list_worktrees()) == len(names) + 1


_ADD_SCRIPT = """
import sys, time
from orchestrator.git import GitRepo
repo = GitRepo(sys.argv[1])
start = float(sys.argv[4])
while time.time() < start:
    time.sleep(0.001)
repo.add_worktree(sys.argv[2], sys.argv[3], "main")
"""


def test_concurrent_adds_from_processes_all_succeed(repo: GitRepo, workspaces: Path) -> None:
    import time

    start = time.time() + 1.0  # every process starts git at about the same moment
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _ADD_SCRIPT,
                str(repo.path),
                str(workspaces / f"p{n}" / "wt"),
                f"tracks/p{n}",
                str(start),
            ],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert {w.branch for w in repo.list_worktrees()} == {"main"} | {
        f"tracks/p{n}" for n in range(6)
    }


def test_repo_lock_excludes_other_threads_with_bounded_wait(repo: GitRepo) -> None:
    lock_path = repo.common_dir / REPO_LOCK_NAME
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with RepoLock(lock_path):
            held.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=10)
        with pytest.raises(GitError, match="timed out"), RepoLock(lock_path, timeout_s=0.2):
            pass
    finally:
        release.set()
        thread.join(timeout=10)
    with RepoLock(lock_path, timeout_s=1), RepoLock(lock_path, timeout_s=0.1):
        pass  # re-entrant within one thread


def test_repo_lock_excludes_other_processes(repo: GitRepo) -> None:
    lock_path = repo.common_dir / REPO_LOCK_NAME
    script = (
        "import fcntl, sys, time\n"
        "f = open(sys.argv[1], 'a')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(lock_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        slow = GitRepo(repo.path, lock_timeout_s=0.3)
        with pytest.raises(GitError, match="timed out"):
            slow.add_worktree(repo.path.parent / "w", "tracks/w", "main")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    # The kernel released the dead holder's lock.
    assert slow.add_worktree(repo.path.parent / "w", "tracks/w", "main").branch == "tracks/w"


class CountingRepo(GitRepo):
    """A GitRepo that counts the git processes it starts."""

    calls: list[tuple[str, ...]]

    def git(self, *args: str, **kwargs: Any) -> Any:
        self.calls.append(args)
        return super().git(*args, **kwargs)


def test_a_checked_worktree_is_not_checked_again(repo: GitRepo, workspaces: Path) -> None:
    path = workspaces / "a"
    repo.add_worktree(path, "tracks/a", "main")
    counting = CountingRepo(repo.path)
    counting.calls = []
    assert counting.worktree_path(path) == path.resolve()
    assert counting.worktree_path(path) == path.resolve()
    counting.head(worktree=path)
    assert [c[0] for c in counting.calls] == ["rev-parse"] * 2  # one check, then HEAD only


def test_a_checked_worktree_replaced_by_a_plain_directory_is_refused(
    repo: GitRepo, workspaces: Path
) -> None:
    """The check is what keeps git from acting on the main checkout from a plain directory
    inside it; a worktree checked once and then replaced is checked again."""
    inside = repo.path / "plain"
    repo.add_worktree(inside, "tracks/a", "main")
    assert repo.worktree_path(inside) == inside.resolve()
    repo.remove_worktree(inside)
    inside.mkdir()
    with pytest.raises(GitError, match="not a worktree"):
        repo.worktree_path(inside)
    repo.add_worktree(workspaces / "b", "tracks/b", "main")
    assert repo.worktree_path(workspaces / "b") == (workspaces / "b").resolve()
