"""Snapshot commits of a worktree's full state, and restoring them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.domain.errors import GitError
from orchestrator.git import GitRepo, InvalidRefNameError, checkpoint_ref, run_git
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration

BRANCH = "tracks/auth"
REF = "refs/orchestrator/checkpoints/auth/1"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(
        tmp_path / "project",
        {
            ".gitignore": "*.log\n",
            "README.md": "hello\n",
            "src/app.py": "x = 1\n",
            "src/old.py": "old\n",
        },
    )


@pytest.fixture
def wt(repo: GitRepo, tmp_path: Path) -> Path:
    path = tmp_path / "workspaces" / "auth"
    repo.ensure_worktree(path, BRANCH, "main")
    return path


def _dirty(wt: Path) -> None:
    """Uncommitted work of every kind: modified, deleted, untracked, staged, ignored."""
    write_files(wt, {"src/app.py": "x = 2\n", "notes/new.md": "new\n", "debug.log": "ignored"})
    (wt / "src" / "old.py").unlink()
    write_files(wt, {"staged.txt": "staged\n"})


def _state(repo: GitRepo, wt: Path) -> tuple[str, str, str, str]:
    """HEAD, symbolic HEAD, the index's content and its mtime: what a snapshot must not touch."""
    index = Path(
        repo.git(
            "rev-parse", "--path-format=absolute", "--git-path", "index", cwd=wt
        ).stdout.strip()
    )
    return (
        repo.head("HEAD", wt),
        repo.current_branch(wt) or "",
        repo.git("ls-files", "--stage", cwd=wt).stdout,
        str(index.stat().st_mtime_ns),
    )


def _tree(repo: GitRepo, sha: str) -> str:
    return repo.git("rev-parse", f"{sha}^{{tree}}").stdout.strip()


def _files(repo: GitRepo, sha: str) -> dict[str, str]:
    names = repo.git("ls-tree", "-r", "--name-only", sha).stdout.split()
    return {name: repo.git("show", f"{sha}:{name}").stdout for name in names}


def test_snapshot_captures_everything_and_touches_nothing(repo: GitRepo, wt: Path) -> None:
    _dirty(wt)
    repo.git("add", "staged.txt", cwd=wt)
    status_before = repo.git("status", "--porcelain", cwd=wt).stdout
    before = _state(repo, wt)
    sha = repo.snapshot(wt, REF)
    assert _state(repo, wt) == before
    assert repo.git("status", "--porcelain", cwd=wt).stdout == status_before
    assert _files(repo, sha) == {
        ".gitignore": "*.log\n",
        "README.md": "hello\n",
        "notes/new.md": "new\n",
        "src/app.py": "x = 2\n",
        "staged.txt": "staged\n",
    }
    parents = repo.git("rev-list", "--parents", "-n", "1", sha).stdout.split()[1:]
    assert parents == [repo.head(BRANCH)]
    assert repo.head(REF) == sha
    assert repo.head(BRANCH) == repo.head("main")  # the branch did not move
    assert repo.fsck_ok()


def test_snapshot_of_a_clean_worktree_equals_head_tree(repo: GitRepo, wt: Path) -> None:
    sha = repo.snapshot(wt, REF, message="checkpoint 1 of auth")
    assert (
        repo.git("rev-parse", f"{sha}^{{tree}}").stdout
        == repo.git("rev-parse", "HEAD^{tree}").stdout
    )
    assert repo.log_messages(sha, since=BRANCH) == ["checkpoint 1 of auth"]


def test_snapshot_works_while_index_lock_is_held(repo: GitRepo, wt: Path) -> None:
    # An agent's git may hold index.lock at checkpoint time: the snapshot must not need it.
    lock = Path(
        repo.git(
            "rev-parse", "--path-format=absolute", "--git-path", "index.lock", cwd=wt
        ).stdout.strip()
    )
    lock.write_text("")
    _dirty(wt)
    sha = repo.snapshot(wt, REF)
    assert "notes/new.md" in _files(repo, sha)
    assert lock.exists()


def test_snapshot_ref_validation(repo: GitRepo, wt: Path) -> None:
    for bad in ["refs/heads/main", "refs/tags/v1", "checkpoints/1", "refs/x..y", "refs/a b"]:
        with pytest.raises(InvalidRefNameError):
            repo.snapshot(wt, bad)
    assert repo.head("main") == repo.head(BRANCH)


def test_list_and_delete_snapshot_refs(repo: GitRepo, wt: Path) -> None:
    shas = {}
    for n in (1, 2, 10):
        write_files(wt, {"n.txt": str(n)})
        shas[n] = repo.snapshot(wt, checkpoint_ref("auth", n))
    repo.snapshot(wt, checkpoint_ref("auth-two", 1))
    refs = repo.list_snapshot_refs("refs/orchestrator/checkpoints/auth")
    assert [r.ref.rsplit("/", 1)[1] for r in refs] == ["1", "2", "10"]
    assert [r.sha for r in refs] == [shas[1], shas[2], shas[10]]
    assert len(repo.list_snapshot_refs("refs/orchestrator/checkpoints/")) == 4
    with pytest.raises(GitError):
        repo.delete_ref(checkpoint_ref("auth", 1), expected_sha=shas[2])
    repo.delete_ref(checkpoint_ref("auth", 1), expected_sha=shas[1])
    repo.delete_ref(checkpoint_ref("auth", 2))
    assert [r.sha for r in repo.list_snapshot_refs("refs/orchestrator/checkpoints/auth")] == [
        shas[10]
    ]
    with pytest.raises(GitError):
        repo.list_snapshot_refs("orchestrator")


def test_snapshot_refs_survive_gc(repo: GitRepo, wt: Path) -> None:
    _dirty(wt)
    sha = repo.snapshot(wt, REF)
    repo.remove_worktree(wt, snapshot_ref=checkpoint_ref("auth", 2))
    repo.git("gc", "--quiet", "--prune=now")
    assert _files(repo, sha)["notes/new.md"] == "new\n"


def test_restore_after_worktree_directory_deleted(repo: GitRepo, wt: Path) -> None:
    _dirty(wt)
    repo.git("add", "staged.txt", cwd=wt)
    status_before = sorted(repo.status_paths(wt))
    sha = repo.snapshot(wt, REF)
    shutil.rmtree(wt)  # the crash
    repo.ensure_worktree(wt, BRANCH, "main")
    assert repo.is_clean(wt)
    repo.restore_snapshot(wt, sha)
    assert (wt / "src" / "app.py").read_text() == "x = 2\n"
    assert (wt / "notes" / "new.md").read_text() == "new\n"
    assert (wt / "staged.txt").read_text() == "staged\n"
    assert not (wt / "src" / "old.py").exists()
    assert not (wt / "debug.log").exists()  # ignored files are not part of a snapshot
    # HEAD stays on the branch commit; the work is uncommitted again, nothing staged.
    assert repo.current_branch(wt) == BRANCH
    assert repo.head("HEAD", wt) == repo.head("main")
    assert sorted(repo.status_paths(wt)) == status_before
    assert repo.git("diff", "--cached", "--name-only", cwd=wt).stdout == ""
    again = repo.snapshot(wt, checkpoint_ref("auth", 2))
    assert _tree(repo, again) == _tree(repo, sha)


def test_restore_is_idempotent(repo: GitRepo, wt: Path) -> None:
    _dirty(wt)
    sha = repo.snapshot(wt, REF)
    repo.restore_snapshot(wt, sha)  # already equal: nothing to do, nothing refused
    assert (wt / "src" / "app.py").read_text() == "x = 2\n"


def test_restore_keeps_modes_and_symlinks(repo: GitRepo, wt: Path) -> None:
    script = wt / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (wt / "link").symlink_to("README.md")
    sha = repo.snapshot(wt, REF)
    script.unlink()
    (wt / "link").unlink()
    repo.restore_snapshot(wt, sha)
    assert script.stat().st_mode & 0o111
    assert (wt / "link").is_symlink() and (wt / "link").read_text() == "hello\n"


def test_restore_file_replacing_directory(repo: GitRepo, wt: Path) -> None:
    shutil.rmtree(wt / "src")
    write_files(wt, {"src": "now a file\n"})
    sha = repo.snapshot(wt, REF)
    (wt / "src").unlink()
    repo.git("checkout", "--quiet", "--", ".", cwd=wt)
    assert repo.is_clean(wt)
    repo.restore_snapshot(wt, sha)
    assert (wt / "src").read_text() == "now a file\n"


def test_restore_refuses_to_overwrite_other_work(repo: GitRepo, wt: Path) -> None:
    _dirty(wt)
    sha = repo.snapshot(wt, REF)
    repo.git("checkout", "--quiet", "--", ".", cwd=wt)
    write_files(wt, {"src/app.py": "x = 3\n"})
    with pytest.raises(GitError, match="uncommitted work"):
        repo.restore_snapshot(wt, sha)
    assert (wt / "src" / "app.py").read_text() == "x = 3\n"


def test_restore_refuses_when_head_moved(repo: GitRepo, wt: Path) -> None:
    _dirty(wt)
    sha = repo.snapshot(wt, REF)
    repo.commit_all(wt, "committed after the snapshot")
    with pytest.raises(GitError, match="was taken on"):
        repo.restore_snapshot(wt, sha)


def test_restore_rejects_unknown_sha(repo: GitRepo, wt: Path) -> None:
    with pytest.raises(GitError):
        repo.restore_snapshot(wt, "0" * 40)


def test_snapshot_in_a_repo_without_commits(tmp_path: Path) -> None:
    repo_dir = tmp_path / "fresh"
    repo_dir.mkdir()
    run_git(["init", "--quiet", str(repo_dir)], repo_dir)
    repo = GitRepo(repo_dir)
    write_files(repo_dir, {"a.txt": "a\n"})
    sha = repo.snapshot(repo_dir, REF)
    assert _files(repo, sha) == {"a.txt": "a\n"}
    (repo_dir / "a.txt").unlink()
    repo.restore_snapshot(repo_dir, sha)
    assert (repo_dir / "a.txt").read_text() == "a\n"


def test_restore_directory_replacing_file(repo: GitRepo, wt: Path) -> None:
    (wt / "README.md").unlink()
    write_files(wt, {"README.md/inner.txt": "now a directory\n"})
    sha = repo.snapshot(wt, REF)
    shutil.rmtree(wt / "README.md")
    repo.git("checkout", "--quiet", "--", ".", cwd=wt)
    assert repo.is_clean(wt)
    repo.restore_snapshot(wt, sha)
    assert (wt / "README.md" / "inner.txt").read_text() == "now a directory\n"


_names = st.sampled_from(["a", "b", "c.txt", "d.py"])
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join)
_trees = st.dictionaries(_paths, st.text(max_size=20), min_size=1, max_size=6)


def _consistent(files: dict[str, str]) -> dict[str, str]:
    """Drop paths that would need to be both a file and a directory."""
    return {
        p: text
        for p, text in files.items()
        if not any(other.startswith(p + "/") for other in files)
    }


def _read_tree(root: Path) -> dict[str, str]:
    # newline="" : compare exact bytes, no universal-newline translation of "\r".
    return {
        str(p.relative_to(root)): p.read_bytes().decode()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(committed=_trees, on_disk=_trees)
def test_snapshot_restore_round_trip(
    tmp_path_factory: pytest.TempPathFactory, committed: dict[str, str], on_disk: dict[str, str]
) -> None:
    committed, on_disk = _consistent(committed), _consistent(on_disk)
    root = tmp_path_factory.mktemp("roundtrip")
    repo = init_repo(root / "project", committed)
    wt = root / "wt"
    repo.ensure_worktree(wt, BRANCH, "main")
    for rel in committed:
        (wt / rel).unlink()
    for p in sorted(wt.rglob("*"), reverse=True):
        if p.is_dir() and ".git" not in p.parts and not any(p.iterdir()):
            p.rmdir()
    for rel, text in on_disk.items():
        (wt / rel).parent.mkdir(parents=True, exist_ok=True)
        (wt / rel).write_text(text, newline="")
    assert _read_tree(wt) == on_disk
    sha = repo.snapshot(wt, REF)
    shutil.rmtree(wt)
    repo.ensure_worktree(wt, BRANCH, "main")
    repo.restore_snapshot(wt, sha)
    assert _read_tree(wt) == on_disk
    assert repo.head("HEAD", wt) == repo.head("main")


def test_discard_changes_keeps_what_it_drops(repo: GitRepo, wt: Path) -> None:
    assert repo.discard_changes(wt) is None  # clean: nothing to keep
    _dirty(wt)
    repo.git("add", "staged.txt", cwd=wt)
    sha = repo.discard_changes(wt)
    assert sha is not None
    assert repo.is_clean(wt)
    assert (wt / "debug.log").exists()  # ignored files stay
    assert not (wt / "notes").exists()
    assert (wt / "src" / "old.py").exists()
    assert repo.head("HEAD", wt) == repo.head("main")
    (kept,) = repo.list_snapshot_refs("refs/orchestrator/discarded/tracks/auth")
    assert kept.sha == sha
    assert _files(repo, sha)["notes/new.md"] == "new\n"
    repo.restore_snapshot(wt, sha)  # and it can come back
    assert (wt / "notes" / "new.md").read_text() == "new\n"


def test_discard_changes_to_a_named_ref(repo: GitRepo, wt: Path) -> None:
    write_files(wt, {"x.txt": "x"})
    sha = repo.discard_changes(wt, keep_ref=REF)
    assert repo.head(REF) == sha
    assert not (wt / "x.txt").exists()
