"""GitRepo basics against real git in temporary repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.errors import GitError, ValidationError
from orchestrator.git import GitRepo, Identity, InvalidRefNameError, is_git_repo, run_git
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "project", {"README.md": "hello\n", "src/app.py": "x = 1\n"})


def test_is_git_repo(tmp_path: Path, repo: GitRepo) -> None:
    assert is_git_repo(repo.path)
    assert is_git_repo(repo.path / "src")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not is_git_repo(plain)
    assert not is_git_repo(tmp_path / "missing")


def test_gitrepo_refuses_a_non_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        GitRepo(tmp_path)
    with pytest.raises(GitError, match="not a directory"):
        GitRepo(tmp_path / "missing")


def test_reopening_a_repository_asks_git_once(repo: GitRepo, tmp_path: Path) -> None:
    """The daemon opens a project's repository per WO: the second time starts no git, as
    long as its ``.git`` directory is the same one; without one git is asked (and refuses)."""
    import shutil

    from orchestrator.git.runner import git_processes_started

    before = git_processes_started().get("rev-parse", 0)
    again = GitRepo(repo.path)
    assert (again.path, again.common_dir) == (repo.path, repo.common_dir)
    assert git_processes_started().get("rev-parse", 0) == before
    shutil.rmtree(repo.path / ".git")
    with pytest.raises(GitError, match="not a git repository"):
        GitRepo(repo.path)
    fresh = init_repo(repo.path, {"other.txt": "x\n"})
    assert fresh.common_dir == repo.path / ".git"


def test_gitrepo_from_a_subdirectory_finds_the_top(repo: GitRepo) -> None:
    assert GitRepo(repo.path / "src").path == repo.path
    assert repo.common_dir == repo.path / ".git"


def test_head_and_branches(repo: GitRepo) -> None:
    sha = repo.head()
    assert len(sha) == 40
    assert repo.head("main") == sha
    assert repo.branch_exists("main")
    assert not repo.branch_exists("tracks/a")
    assert repo.create_branch("tracks/a", "main") == sha
    assert repo.branch_exists("tracks/a")
    with pytest.raises(GitError):
        repo.create_branch("tracks/a", "main")  # never moves an existing branch
    with pytest.raises(GitError, match="does not name a commit"):
        repo.head("nope")
    with pytest.raises(GitError):
        repo.head("--all")


def test_validate_ref_name(repo: GitRepo) -> None:
    assert repo.validate_ref_name("tracks/auth-rework") == "tracks/auth-rework"
    for bad in ["", "a..b", "a b", "-x", "@{-1}", "x.lock", "a/", "HEAD", "x~1", "a:b"]:
        with pytest.raises(InvalidRefNameError):
            repo.validate_ref_name(bad)
    # Bad input for the CLI (exit 2) and a GitError for callers around git operations.
    with pytest.raises(ValidationError):
        repo.validate_ref_name("a..b")
    with pytest.raises(InvalidRefNameError):
        repo.create_branch("bad..name", "main")


def test_commit_all_with_no_global_config(repo: GitRepo) -> None:
    assert repo.commit_all(repo.path, "nothing") is None
    write_files(repo.path, {"new.txt": "n\n", "src/app.py": "x = 2\n"})
    (repo.path / "README.md").unlink()
    author = Identity("Worker Bot", "worker@example.invalid")
    sha = repo.commit_all(repo.path, "WO-2025-001: change things\n\n# kept, not a comment", author)
    assert sha is not None and sha == repo.head()
    assert repo.is_clean(repo.path)
    show = run_git(["show", "-s", "--format=%an <%ae>|%cn|%B", sha], repo.path).stdout
    assert show.startswith("Worker Bot <worker@example.invalid>|Worker Bot|")
    assert "# kept, not a comment" in show
    files = run_git(["ls-tree", "-r", "--name-only", sha], repo.path).stdout.split()
    assert sorted(files) == ["new.txt", "src/app.py"]


def test_commit_all_refuses_empty_message(repo: GitRepo) -> None:
    write_files(repo.path, {"a.txt": "a"})
    with pytest.raises(GitError, match="empty commit message"):
        repo.commit_all(repo.path, "  \n")


def test_commit_all_skips_hooks(repo: GitRepo) -> None:
    hook = repo.common_dir / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    write_files(repo.path, {"a.txt": "a"})
    assert repo.commit_all(repo.path, "despite the hook") is not None


def test_worktree_path_rejects_plain_subdirectory(repo: GitRepo, tmp_path: Path) -> None:
    # git run there would act on the main checkout: refuse instead.
    with pytest.raises(GitError, match="not a worktree of"):
        repo.commit_all(repo.path / "src", "wrong place")
    other = init_repo(tmp_path / "other")
    with pytest.raises(GitError, match="not a worktree of"):
        repo.is_clean(other.path)
    with pytest.raises(GitError, match="does not exist"):
        repo.is_clean(tmp_path / "missing")


def test_is_clean_and_current_branch(repo: GitRepo) -> None:
    assert repo.is_clean(repo.path)
    assert repo.current_branch(repo.path) == "main"
    write_files(repo.path, {"untracked.txt": "u"})
    assert not repo.is_clean(repo.path)
    assert repo.status_paths(repo.path) == ["untracked.txt"]
    (repo.path / "untracked.txt").unlink()
    write_files(repo.path, {".gitignore": "*.log\n"})
    repo.commit_all(repo.path, "ignore logs")
    write_files(repo.path, {"debug.log": "ignored"})
    assert repo.is_clean(repo.path)  # ignored files are not work
    run_git(["checkout", "--quiet", "--detach"], repo.path)
    assert repo.current_branch(repo.path) is None


def started(before: dict[str, int]) -> dict[str, int]:
    """The git processes started since ``before`` (a ``git_processes_started()``), but the
    ``rev-parse`` that checks a main checkout (not a linked worktree) before each command."""
    from orchestrator.git.runner import git_processes_started

    now = git_processes_started()
    return {
        k: n - before.get(k, 0) for k, n in now.items() if n > before.get(k, 0) and k != "rev-parse"
    }


def test_head_and_clean_from_one_status(repo: GitRepo, tmp_path: Path) -> None:
    """A checkpoint's HEAD and cleanliness come from one git process; untracked files,
    changes and deletions are not clean, ignored files are; an unborn branch has no HEAD."""
    from orchestrator.git.runner import git_processes_started

    linked = tmp_path / "linked"
    repo.add_worktree(linked, "tracks/x", "main")
    assert repo.is_clean(linked)  # the worktree checked once
    head = repo.head()
    before = git_processes_started()
    assert repo.head_and_clean(linked) == (head, True)
    after = git_processes_started()
    assert sum(after.values()) - sum(before.values()) == 1 and started(before) == {"status": 1}
    for change in ({"new.txt": "u"}, {"README.md": "changed\n"}):
        write_files(repo.path, change)
        assert repo.head_and_clean(repo.path) == (repo.head(), False)
        run_git(["checkout", "--quiet", "--", "."], repo.path)
        run_git(["clean", "-fdq"], repo.path)
    (repo.path / "README.md").unlink()
    assert repo.head_and_clean(repo.path)[1] is False
    run_git(["checkout", "--quiet", "--", "."], repo.path)
    write_files(repo.path, {".gitignore": "*.log\n", "x.log": "ignored"})
    repo.commit_all(repo.path, "ignore logs")
    assert repo.head_and_clean(repo.path) == (repo.head(), True)
    unborn = tmp_path / "unborn"
    unborn.mkdir()
    run_git(["init", "--quiet", "-b", "main"], unborn)
    write_files(unborn, {"a.txt": "a"})
    assert GitRepo(unborn).head_and_clean(unborn) == (None, False)


def test_an_allowed_empty_commit_does_not_ask_what_is_staged(repo: GitRepo) -> None:
    """Each WO's commit allows an empty one: the ``diff --cached`` that tells whether
    anything is staged is not run (it is without ``allow_empty``)."""
    from orchestrator.git.runner import git_processes_started

    before = git_processes_started()
    sha = repo.commit_all(repo.path, "WO-1: nothing changed", allow_empty=True)
    assert sha == repo.head() and started(before) == {"add": 1, "commit": 1}
    write_files(repo.path, {"new.txt": "n"})
    before = git_processes_started()
    assert repo.commit_all(repo.path, "WO-2: a file", allow_empty=True) == repo.head()
    assert "diff" not in started(before) and repo.is_clean(repo.path)
    before = git_processes_started()
    assert repo.commit_all(repo.path, "nothing to commit") is None
    assert started(before) == {"add": 1, "diff": 1}


def test_commits_between_and_log_messages(repo: GitRepo) -> None:
    base = repo.head()
    repo.create_branch("tracks/a", "main")
    run_git(["switch", "--quiet", "tracks/a"], repo.path)
    shas = []
    for n in range(3):
        write_files(repo.path, {f"f{n}.txt": str(n)})
        sha = repo.commit_all(repo.path, f"step {n}\n\nbody {n}")
        assert sha is not None
        shas.append(sha)
    assert repo.commits_between("main", "tracks/a") == shas
    assert repo.commits_between("tracks/a", "main") == []
    assert repo.log_messages("tracks/a", since=base) == [
        "step 0\n\nbody 0",
        "step 1\n\nbody 1",
        "step 2\n\nbody 2",
    ]
    assert repo.log_messages("tracks/a", since=shas[1]) == ["step 2\n\nbody 2"]
    assert repo.log_messages("main") == ["initial commit"]


def test_is_merged(repo: GitRepo) -> None:
    repo.create_branch("tracks/a", "main")
    assert repo.is_merged("tracks/a", "main")
    run_git(["switch", "--quiet", "tracks/a"], repo.path)
    write_files(repo.path, {"a.txt": "a"})
    repo.commit_all(repo.path, "a")
    assert not repo.is_merged("tracks/a", "main")
    assert repo.is_merged("main", "tracks/a")


def test_fsck_ok(repo: GitRepo) -> None:
    assert repo.fsck_ok()
    # Corrupt a loose object: fsck must notice.
    sha = repo.head()
    obj = repo.common_dir / "objects" / sha[:2] / sha[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"garbage")
    assert not repo.fsck_ok()


def test_errors_name_the_command_and_stderr(repo: GitRepo) -> None:
    with pytest.raises(GitError) as info:
        repo.git("rev-parse", "--verify", "no-such-ref")
    assert "git rev-parse --verify no-such-ref failed" in str(info.value)
    assert "Needed a single revision" in str(info.value)


def test_inherited_git_dir_does_not_redirect(
    repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = init_repo(tmp_path / "other", {"other.txt": "o"})
    monkeypatch.setenv("GIT_DIR", str(other.common_dir))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "bogus-index"))
    assert repo.head() != other.head()
    assert repo.is_clean(repo.path)


def test_no_editor_and_no_prompt(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    # An editor that would hang: git must never start it.
    monkeypatch.setenv("GIT_EDITOR", "sleep 1000")
    monkeypatch.setenv("EDITOR", "sleep 1000")
    repo.create_branch("tracks/a", "main")
    run_git(["switch", "--quiet", "tracks/a"], repo.path)
    write_files(repo.path, {"a.txt": "a"})
    repo.commit_all(repo.path, "a")
    run_git(["switch", "--quiet", "main"], repo.path)
    write_files(repo.path, {"b.txt": "b"})
    repo.commit_all(repo.path, "b")
    result = run_git(["merge", "--no-ff", "tracks/a"], repo.path, timeout_s=30)
    assert result.ok
