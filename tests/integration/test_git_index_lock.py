"""Removing stale index.lock files, and keeping ones a live process holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.git import GitRepo, LockState
from orchestrator.git.index_lock import index_lock_path, psutil_probe
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "project")


@pytest.fixture
def wt(repo: GitRepo, tmp_path: Path) -> Path:
    path = tmp_path / "workspaces" / "auth"
    repo.ensure_worktree(path, "tracks/auth", "main")
    return path


def _lock(repo: GitRepo, wt: Path) -> Path:
    lock = index_lock_path(repo, wt)
    lock.write_text("")
    return lock


@pytest.fixture
def holder(repo: GitRepo, wt: Path) -> Iterator[Path]:
    """A separate process with the worktree's index.lock open, as a running git would."""
    lock = index_lock_path(repo, wt)
    script = (
        "import sys, time\nf = open(sys.argv[1], 'w')\nprint('open', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        yield lock
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _free(lock: Path, worktree: Path) -> LockState:
    return LockState.FREE


def _unknown(lock: Path, worktree: Path) -> LockState:
    return LockState.UNKNOWN


def test_linked_worktree_lock_lives_in_its_admin_dir(repo: GitRepo, wt: Path) -> None:
    lock = index_lock_path(repo, wt)
    assert lock.parent.parent == repo.common_dir / "worktrees"
    assert index_lock_path(repo, repo.path) == repo.common_dir / "index.lock"


def test_no_lock_nothing_removed(repo: GitRepo, wt: Path) -> None:
    assert repo.clear_stale_index_lock(wt) is False


def test_stale_lock_is_removed_and_git_works_again(repo: GitRepo, wt: Path) -> None:
    lock = _lock(repo, wt)
    write_files(wt, {"a.txt": "a"})
    with pytest.raises(Exception, match=r"index\.lock"):
        repo.commit_all(wt, "blocked by the lock")
    # psutil's verdict: no process has it open and no git runs in the worktree.
    assert psutil_probe(lock, wt) in (LockState.FREE, LockState.UNKNOWN)
    assert repo.clear_stale_index_lock(wt, probe=_free) is True
    assert not lock.exists()
    assert repo.commit_all(wt, "unblocked") is not None


def test_lock_held_open_by_a_live_process_is_kept(repo: GitRepo, wt: Path, holder: Path) -> None:
    assert psutil_probe(holder, wt) is LockState.HELD
    assert repo.clear_stale_index_lock(wt, min_age_s=0) is False
    assert holder.exists()


def test_unknown_liveness_falls_back_to_age(repo: GitRepo, wt: Path) -> None:
    lock = _lock(repo, wt)
    assert repo.clear_stale_index_lock(wt, min_age_s=3600, probe=_unknown) is False
    assert lock.exists()
    old = time.time() - 7200
    os.utime(lock, (old, old))
    assert repo.clear_stale_index_lock(wt, min_age_s=3600, probe=_unknown) is True
    assert not lock.exists()


def test_a_git_process_working_in_the_worktree_counts_as_holder(repo: GitRepo, wt: Path) -> None:
    lock = _lock(repo, wt)
    # "git hash-object --stdin" blocks reading stdin: a live git with its cwd in the worktree,
    # as during a commit hook, when git has closed the lock's descriptor.
    proc = subprocess.Popen(
        ["git", "hash-object", "--stdin"], cwd=wt, stdin=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 10
        while psutil_probe(lock, wt) is not LockState.HELD:
            assert time.monotonic() < deadline, "the git process was never seen"
            time.sleep(0.05)
        assert repo.clear_stale_index_lock(wt, min_age_s=0) is False
        assert lock.exists()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_main_checkout_lock(repo: GitRepo) -> None:
    lock = _lock(repo, repo.path)
    assert repo.clear_stale_index_lock(repo.path, probe=_free) is True
    assert not lock.exists()
