"""merge_no_ff: computed off to the side, published by fast-forward or compare-and-swap."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator.domain.errors import GitError, MergeConflictError
from orchestrator.git import GitRepo, run_git
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration

BRANCH = "tracks/auth"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "project", {"README.md": "hello\n", "app.py": "x = 1\n"})


@pytest.fixture
def wt(repo: GitRepo, tmp_path: Path) -> Path:
    path = tmp_path / "workspaces" / "auth"
    repo.ensure_worktree(path, BRANCH, "main")
    return path


def _commit(repo: GitRepo, where: Path, files: dict[str, str], message: str) -> str:
    write_files(where, files)
    sha = repo.commit_all(where, message)
    assert sha is not None
    return sha


def _parents(repo: GitRepo, sha: str) -> list[str]:
    return repo.git("rev-list", "--parents", "-n", "1", sha).stdout.split()[1:]


def test_merge_into_checked_out_base_updates_its_files(repo: GitRepo, wt: Path) -> None:
    tip = _commit(repo, wt, {"auth.py": "login()\n"}, "WO-2025-001: login")
    old = repo.head("main")
    merged = repo.merge_no_ff("main", BRANCH, "Merge track auth")
    assert repo.head("main") == merged
    assert _parents(repo, merged) == [old, tip]  # a real merge commit even for a fast-forward
    assert repo.log_messages(merged, since=tip)[-1] == "Merge track auth"
    # The user's checkout of main followed: its files and index match the new tip.
    assert (repo.path / "auth.py").read_text() == "login()\n"
    assert repo.is_clean(repo.path)
    assert repo.is_merged(BRANCH, "main")
    assert repo.fsck_ok()


def test_merge_with_diverged_base(repo: GitRepo, wt: Path) -> None:
    tip = _commit(repo, wt, {"auth.py": "login()\n"}, "login")
    base = _commit(repo, repo.path, {"README.md": "hello, world\n"}, "readme")
    merged = repo.merge_no_ff("main", BRANCH, "Merge track auth")
    assert _parents(repo, merged) == [base, tip]
    assert (repo.path / "auth.py").exists()
    assert (repo.path / "README.md").read_text() == "hello, world\n"


def test_conflict_names_files_and_leaves_base_untouched(repo: GitRepo, wt: Path) -> None:
    _commit(repo, wt, {"app.py": "x = 'track'\n", "both.txt": "track\n"}, "track side")
    base = _commit(repo, repo.path, {"app.py": "x = 'main'\n", "both.txt": "main\n"}, "main side")
    with pytest.raises(MergeConflictError) as info:
        repo.merge_no_ff("main", BRANCH, "Merge track auth")
    assert info.value.files == ["app.py", "both.txt"]
    assert "app.py" in str(info.value) and "both.txt" in str(info.value)
    assert isinstance(info.value, GitError)
    assert repo.head("main") == base
    assert (repo.path / "app.py").read_text() == "x = 'main'\n"
    assert repo.is_clean(repo.path) and repo.is_clean(wt)
    assert not (repo.common_dir / "MERGE_HEAD").exists()


def test_modify_delete_conflict(repo: GitRepo, wt: Path) -> None:
    (wt / "app.py").unlink()
    repo.commit_all(wt, "remove app")
    _commit(repo, repo.path, {"app.py": "x = 2\n"}, "change app")
    with pytest.raises(MergeConflictError) as info:
        repo.merge_no_ff("main", BRANCH, "Merge")
    assert info.value.files == ["app.py"]


def test_merge_into_base_not_checked_out_uses_cas(repo: GitRepo, wt: Path) -> None:
    repo.create_branch("release", "main")
    tip = _commit(repo, wt, {"auth.py": "login()\n"}, "login")
    old = repo.head("release")
    merged = repo.merge_no_ff("release", BRANCH, "Merge into release")
    assert repo.head("release") == merged
    assert _parents(repo, merged) == [old, tip]
    assert repo.head("main") == old  # the checked-out branch did not move
    assert not (repo.path / "auth.py").exists()
    reflog = repo.git("reflog", "-1", "--format=%gs", "refs/heads/release").stdout
    assert "orchestrator: merge tracks/auth" in reflog


def test_local_changes_in_the_way_raise_and_leave_everything(repo: GitRepo, wt: Path) -> None:
    _commit(repo, wt, {"app.py": "x = 'track'\n"}, "track edit")
    old = repo.head("main")
    write_files(repo.path, {"app.py": "x = 'user is editing'\n"})
    with pytest.raises(GitError, match="could not fast-forward main") as info:
        repo.merge_no_ff("main", BRANCH, "Merge")
    assert "app.py" in str(info.value)
    assert repo.head("main") == old
    assert (repo.path / "app.py").read_text() == "x = 'user is editing'\n"


def test_unrelated_local_changes_are_carried_along(repo: GitRepo, wt: Path) -> None:
    _commit(repo, wt, {"auth.py": "login()\n"}, "login")
    write_files(repo.path, {"README.md": "user's draft\n"})
    merged = repo.merge_no_ff("main", BRANCH, "Merge")
    assert repo.head("main") == merged
    assert (repo.path / "README.md").read_text() == "user's draft\n"
    assert (repo.path / "auth.py").exists()


def test_already_merged_is_a_no_op(repo: GitRepo, wt: Path) -> None:
    _commit(repo, wt, {"auth.py": "login()\n"}, "login")
    merged = repo.merge_no_ff("main", BRANCH, "Merge")
    assert repo.merge_no_ff("main", BRANCH, "Merge again") == merged
    assert repo.head("main") == merged


def test_base_moved_meanwhile_is_recomputed(repo: GitRepo, wt: Path) -> None:
    # The user commits to main while the merge is being computed: CAS fails, merge retries.
    repo.create_branch("release", "main")
    tip = _commit(repo, wt, {"auth.py": "login()\n"}, "login")
    hook = repo.common_dir / "hooks" / "reference-transaction"
    marker = repo.path.parent / "moved-once"
    other = repo.path.parent / "other-commit"
    other_sha = repo.git(
        "commit-tree",
        repo.head("release") + "^{tree}",
        "-p",
        repo.head("release"),
        "-m",
        "concurrent",
    ).stdout.strip()
    other.write_text(other_sha)
    moved = repo.path.parent / "moved"
    # Fail our compare-and-swap once, and move the base in between, as a user commit would.
    hook.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"prepared) [ -e {marker} ] && exit 0; touch {marker}; exit 1 ;;\n"
        f"aborted) [ -e {moved} ] && exit 0; touch {moved};"
        f" git update-ref refs/heads/release $(cat {other}) ;;\n"
        "esac\n"
        "exit 0\n"
    )
    hook.chmod(0o755)
    merged = repo.merge_no_ff("release", BRANCH, "Merge")
    hook.unlink()
    assert moved.exists()
    assert _parents(repo, merged) == [other_sha, tip]
    assert repo.head("release") == merged


def test_concurrent_merges_of_two_tracks(repo: GitRepo, tmp_path: Path) -> None:
    paths = {}
    for name in ("a", "b"):
        paths[name] = tmp_path / "workspaces" / name
        repo.ensure_worktree(paths[name], f"tracks/{name}", "main")
        _commit(repo, paths[name], {f"{name}.txt": name}, f"work {name}")
    errors: list[BaseException] = []

    def merge(name: str) -> None:
        try:
            repo.merge_no_ff("main", f"tracks/{name}", f"Merge {name}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=merge, args=(n,)) for n in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert repo.is_merged("tracks/a", "main") and repo.is_merged("tracks/b", "main")
    assert (repo.path / "a.txt").exists() and (repo.path / "b.txt").exists()
    assert repo.is_clean(repo.path)


def test_merge_rejects_bad_input(repo: GitRepo, wt: Path) -> None:
    with pytest.raises(GitError, match="empty merge message"):
        repo.merge_no_ff("main", BRANCH, " ")
    with pytest.raises(GitError, match="does not name a commit"):
        repo.merge_no_ff("main", "tracks/missing", "Merge")
    with pytest.raises(GitError, match="does not name a commit"):
        repo.merge_no_ff("missing", BRANCH, "Merge")


def test_unrelated_histories_are_an_error(repo: GitRepo, tmp_path: Path) -> None:
    run_git(["checkout", "--quiet", "--orphan", "island"], repo.path)
    write_files(repo.path, {"island.txt": "alone"})
    repo.commit_all(repo.path, "island")
    run_git(["checkout", "--quiet", "main"], repo.path)
    before = repo.head("main")
    with pytest.raises(GitError, match="unrelated histories"):
        repo.merge_no_ff("main", "island", "Merge")
    assert repo.head("main") == before
