"""A tampered worktree is never committed in: its git dir and HEAD are checked first.

Pointing the worktree's ``.git`` file at the main repository's ``.git`` would make a commit
"in the worktree" land on the base branch; checking out another branch would commit there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.agents.fake_runtime import CallTool, Finish, Step, Write
from orchestrator.agents.protocol import SessionSpec
from orchestrator.domain.errors import WorktreeIntegrityError
from orchestrator.git.repo import GitRepo
from tests.conftest import git
from tests.integration.daemon_kit import by_role, open_home, payload_of, run_fake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def point_at_main(worktree: Path, repo: Path) -> None:
    (worktree / ".git").write_text(f"gitdir: {repo / '.git'}\n")


def point_at_other_entry(worktree: Path, repo: Path) -> None:
    (worktree / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'other'}\n")


def switch_branch(worktree: Path, repo: Path) -> None:
    git(worktree, "checkout", "-q", "-b", "elsewhere")


@pytest.mark.parametrize("tamper", [point_at_main, point_at_other_entry, switch_branch])
def test_commit_all_refuses_a_tampered_worktree(
    tamper: Callable[[Path, Path], None], make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_repo()
    repo = GitRepo(path)
    worktree = tmp_path / "wt"
    repo.add_worktree(worktree, "tracks/t", "main")
    repo.add_worktree(tmp_path / "other", "tracks/other", "main")
    assert repo.worktree_problem(worktree, "tracks/t") is None
    assert repo.worktree_problem(worktree, "tracks/other") is not None
    tamper(worktree, path)
    (worktree / "new.txt").write_text("work\n")
    before = {b: repo.head(b) for b in ("main", "tracks/t", "tracks/other")}
    with pytest.raises(WorktreeIntegrityError):
        repo.commit_all(worktree, "WO-1: x", branch="tracks/t")
    assert {b: repo.head(b) for b in before} == before


def test_the_integrity_check_is_one_git_process(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    """It runs before every WO's commit: the git dir and HEAD come from one ``rev-parse``
    (once the worktree is known); a detached HEAD or another branch is still named."""
    from orchestrator.git.runner import git_processes_started

    repo = GitRepo(make_repo())
    worktree = tmp_path / "wt"
    repo.add_worktree(worktree, "tracks/t", "main")
    assert repo.worktree_problem(worktree, "tracks/t") is None
    before = git_processes_started()
    assert repo.worktree_problem(worktree, "tracks/t") is None
    after = git_processes_started()
    assert sum(after.values()) - sum(before.values()) == 1
    assert after.get("rev-parse", 0) - before.get("rev-parse", 0) == 1
    switch_branch(worktree, repo.path)
    problem = repo.worktree_problem(worktree, "tracks/t")
    assert problem is not None and "refs/heads/elsewhere checked out" in problem
    git(worktree, "checkout", "-q", "--detach")
    problem = repo.worktree_problem(worktree, "tracks/t")
    assert problem is not None and "a detached HEAD checked out" in problem


def tampering_worker(spec: SessionSpec) -> list[Step]:
    """Does its work, then (as a shell command could) rewrites the worktree's .git file."""
    wo = payload_of(spec)["wo"]
    worktree = Path(spec.cwd)
    common = Path(git(worktree, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())
    point_at_main(worktree, common.parent)
    return [
        Write(f"wo/{wo['id']}.txt", "work\n"),
        CallTool("report_result", {"status": "done", "summary": "done"}),
        Finish(),
    ]


async def test_the_daemon_blocks_the_track_and_commits_nothing(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    main_before = git(repo, "rev-parse", "main").strip()
    (wo_id,) = h.add_track("p", "feat", ["Tamper"])
    branch_before = git(repo, "rev-parse", "tracks/feat").strip()
    await run_fake(h, by_role(worker=tampering_worker))
    track = h.store.get_track("feat")
    assert track.status == "paused"
    assert track.blocked_reason and "integrity" in track.blocked_reason
    assert h.wo(wo_id).status == "failed"
    assert "not a worktree entry" in (h.wo(wo_id).last_error or "")
    assert git(repo, "rev-parse", "main").strip() == main_before
    assert git(repo, "rev-parse", "tracks/feat").strip() == branch_before
    assert git(repo, "status", "--porcelain") == ""
