"""ensure_worktree: every crash leftover is repaired, and work is never replaced silently."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.domain.errors import GitError
from orchestrator.git import INITIALIZING_REASON, GitRepo
from orchestrator.git.runner import git_env
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration

BRANCH = "tracks/auth"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "project", {"README.md": "hello\n", "src/app.py": "x = 1\n"})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "workspaces" / "auth"


def _admin_dir(repo: GitRepo, worktree: Path) -> Path:
    return Path(
        repo.git("rev-parse", "--path-format=absolute", "--git-dir", cwd=worktree).stdout.strip()
    )


def _assert_healthy(repo: GitRepo, path: Path) -> None:
    wt = repo.find_worktree(path)
    assert wt is not None
    assert wt.branch == BRANCH and not wt.is_locked and not wt.is_prunable
    assert repo.current_branch(path) == BRANCH
    assert repo.is_clean(path)
    assert (path / "src" / "app.py").read_text() == "x = 1\n"
    assert repo.fsck_ok()


def test_creates_branch_and_worktree(repo: GitRepo, path: Path) -> None:
    wt = repo.ensure_worktree(path, BRANCH, "main")
    assert wt.path == path.resolve()
    assert repo.head(BRANCH) == repo.head("main")
    _assert_healthy(repo, path)


def test_idempotent_and_keeps_work_in_progress(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    write_files(path, {"wip.txt": "not yet committed"})
    wt = repo.ensure_worktree(path, BRANCH, "main")
    assert wt.branch == BRANCH
    assert (path / "wip.txt").read_text() == "not yet committed"


def test_existing_branch_keeps_its_commits(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    write_files(path, {"done.txt": "done"})
    sha = repo.commit_all(path, "WO done")
    repo.remove_worktree(path)
    wt = repo.ensure_worktree(path, BRANCH, "main")
    assert wt.head == sha and (path / "done.txt").exists()


def test_deleted_directory_is_pruned_and_re_added(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    write_files(path, {"done.txt": "done"})
    sha = repo.commit_all(path, "WO done")
    shutil.rmtree(path)
    wt = repo.ensure_worktree(path, BRANCH, "main")
    assert wt.head == sha
    assert (path / "done.txt").read_text() == "done"


def test_deleted_directory_of_a_locked_worktree(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    repo.git("worktree", "lock", "--reason", "removable disk", str(path))
    shutil.rmtree(path)
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)


def test_branch_held_by_a_stale_worktree_elsewhere(
    repo: GitRepo, path: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old-workspaces" / "auth"
    repo.ensure_worktree(old, BRANCH, "main")
    shutil.rmtree(old.parent)  # e.g. the workspace root was moved or wiped
    with pytest.raises(GitError, match="already checked out"):
        repo.add_worktree(path, BRANCH, "main")  # what plain git says
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)
    assert repo.find_worktree(old) is None


def test_branch_held_by_a_live_worktree_elsewhere_is_refused(
    repo: GitRepo, path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    repo.ensure_worktree(other, BRANCH, "main")
    with pytest.raises(GitError, match="checked out in another worktree"):
        repo.ensure_worktree(path, BRANCH, "main")
    assert not path.exists()


def test_initializing_worktree_with_partial_checkout_is_finished(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    # What a killed "git worktree add" leaves: the lock, no index, half the files.
    admin = _admin_dir(repo, path)
    (admin / "locked").write_text(INITIALIZING_REASON)
    (admin / "index").unlink()
    (path / "src" / "app.py").unlink()
    wt = repo.find_worktree(path)
    assert wt is not None and wt.is_initializing
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)


def test_initializing_worktree_without_head_is_rebuilt(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    admin = _admin_dir(repo, path)
    (admin / "locked").write_text(INITIALIZING_REASON)
    (admin / "HEAD").write_text("0" * 40 + "\n")  # git writes HEAD as the null id first
    (admin / "index").unlink()
    shutil.rmtree(path / "src")
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)


def test_worktree_add_killed_during_checkout_is_repaired(repo: GitRepo, path: Path) -> None:
    # A smudge filter that stalls makes "git worktree add" hang inside its checkout, so we
    # can kill it exactly where a crash leaves the worktree locked as "initializing".
    repo.git("config", "filter.slow.smudge", "sleep 60; cat")
    write_files(repo.path, {".gitattributes": "*.py filter=slow\n"})
    repo.commit_all(repo.path, "slow checkout")
    repo.create_branch(BRANCH, "main")
    proc = subprocess.Popen(
        ["git", "worktree", "add", str(path), BRANCH],
        cwd=repo.path,
        env=git_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            wt = repo.find_worktree(path)
            if wt is not None and wt.is_initializing and (path / ".git").exists():
                break
            assert time.monotonic() < deadline, "git worktree add never reached its checkout"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    wt = repo.find_worktree(path)
    assert wt is not None and wt.is_initializing
    repo.git("config", "--unset", "filter.slow.smudge")
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)


def test_moved_worktree_is_repaired(repo: GitRepo, path: Path, tmp_path: Path) -> None:
    old = tmp_path / "old" / "auth"
    repo.ensure_worktree(old, BRANCH, "main")
    write_files(old, {"wip.txt": "in progress"})
    path.parent.mkdir(parents=True)
    old.rename(path)
    repo.ensure_worktree(path, BRANCH, "main")
    assert (path / "wip.txt").read_text() == "in progress"
    assert repo.current_branch(path) == BRANCH


def test_clean_worktree_on_another_branch_is_switched(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, "tracks/other", "main")
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)


def test_refuses_to_replace_a_stranger_directory_with_work(repo: GitRepo, path: Path) -> None:
    write_files(path, {"notes.txt": "someone's work"})
    with pytest.raises(GitError, match=str(path)):
        repo.ensure_worktree(path, BRANCH, "main")
    assert (path / "notes.txt").read_text() == "someone's work"
    assert repo.find_worktree(path) is None


def test_refuses_to_switch_a_worktree_with_uncommitted_work(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, "tracks/other", "main")
    write_files(path, {"src/app.py": "x = 2\n"})
    with pytest.raises(GitError, match="uncommitted work"):
        repo.ensure_worktree(path, BRANCH, "main")
    assert repo.current_branch(path) == "tracks/other"
    assert (path / "src" / "app.py").read_text() == "x = 2\n"


def test_registered_directory_that_lost_its_link_is_relinked(repo: GitRepo, path: Path) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    write_files(path, {"wip.txt": "in progress"})
    (path / ".git").unlink()
    wt = repo.find_worktree(path)
    assert wt is not None and wt.is_prunable
    repo.ensure_worktree(path, BRANCH, "main")
    assert (path / "wip.txt").read_text() == "in progress"
    assert repo.current_branch(path) == BRANCH


def test_refuses_a_registered_directory_taken_over_by_another_repo(
    repo: GitRepo, path: Path
) -> None:
    repo.ensure_worktree(path, BRANCH, "main")
    write_files(path, {"wip.txt": "in progress"})
    (path / ".git").unlink()
    repo.git("init", "--quiet", str(path))
    with pytest.raises(GitError, match=str(path)):
        repo.ensure_worktree(path, BRANCH, "main")
    assert (path / "wip.txt").read_text() == "in progress"


def test_empty_leftover_directory_is_reused(repo: GitRepo, path: Path) -> None:
    path.mkdir(parents=True)
    repo.ensure_worktree(path, BRANCH, "main")
    _assert_healthy(repo, path)
