"""The shared remote: URL validation, pushes never forced, merges fetched first and retried
when the remote moved underneath (a real race, made by the remote's own hook)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.domain.errors import ValidationError
from orchestrator.git import GitRepo, run_git
from orchestrator.git.remote import (
    clone_from,
    fetch_branch,
    merge_into_remote,
    push_refs,
    take_remote_branch,
    validate_remote_url,
)
from orchestrator.git.testing import ISOLATED_GIT_ENV, init_repo, write_files

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A bare remote holding ``main`` with one commit."""
    origin = init_repo(tmp_path / "origin", {"README.md": "hello\n"})
    path = tmp_path / "remote.git"
    run_git(["clone", "--quiet", "--bare", str(origin.path), str(path)], tmp_path)
    return path


def clone(bare: Path, where: Path) -> GitRepo:
    return GitRepo(clone_from(str(bare), where, "main"))


def work(repo: GitRepo, branch: str, files: dict[str, str]) -> str:
    wt = repo.path.parent / f"{repo.path.name}-{branch.replace('/', '-')}"
    repo.ensure_worktree(wt, branch, "main")
    write_files(wt, files)
    sha = repo.commit_all(wt, f"work on {branch}")
    assert sha is not None
    return sha


def remote_head(bare: Path, ref: str) -> str:
    return run_git(["rev-parse", ref], bare).stdout.strip()


# -- validation ---------------------------------------------------------------------------


def test_remote_urls_are_validated(bare: Path, tmp_path: Path) -> None:
    assert validate_remote_url(str(bare), tmp_path) == str(bare)
    assert validate_remote_url("remote.git", tmp_path) == str(bare)  # relative: from cwd
    assert validate_remote_url(f"file://{bare}", tmp_path) == f"file://{bare}"
    for url in ("ssh://git@host/x.git", "https://host/x.git", "git@host:team/x.git"):
        assert validate_remote_url(url, tmp_path) == url
    plain = init_repo(tmp_path / "plain")
    refused = [
        "",
        " x",
        "-oProxyCommand=touch /tmp/x",
        "ext::sh -c touch% /tmp/pwned",
        "ftp://host/x.git",
        "https:///nohost",
        str(tmp_path / "missing"),
        str(plain.path),  # a working repository, not a bare one
        f"file://{plain.path}",
        "host:path with space",
    ]
    for url in refused:
        with pytest.raises(ValidationError):
            validate_remote_url(url, tmp_path)


# -- pushes and merges --------------------------------------------------------------------


def test_track_branch_and_checkpoint_ref_are_pushed_without_force(
    bare: Path, tmp_path: Path
) -> None:
    a = clone(bare, tmp_path / "a")
    tip = work(a, "tracks/t1", {"a.txt": "a\n"})
    a.git("update-ref", "refs/orchestrator/checkpoints/t1/1", tip)
    push_refs(a, str(bare), ["refs/heads/tracks/t1", "refs/orchestrator/checkpoints/t1/1"])
    assert remote_head(bare, "refs/heads/tracks/t1") == tip
    assert remote_head(bare, "refs/orchestrator/checkpoints/t1/1") == tip
    # Another clone rewrites the branch: its push is refused, the remote keeps the work.
    b = clone(bare, tmp_path / "b")
    work(b, "tracks/t1", {"b.txt": "b\n"})
    with pytest.raises(Exception, match="rejected"):
        push_refs(b, str(bare), ["refs/heads/tracks/t1"])
    assert remote_head(bare, "refs/heads/tracks/t1") == tip


def test_merges_from_two_clones_both_reach_the_remote_once(bare: Path, tmp_path: Path) -> None:
    a, b = clone(bare, tmp_path / "a"), clone(bare, tmp_path / "b")
    tip_a = work(a, "tracks/ta", {"a.txt": "a\n"})
    tip_b = work(b, "tracks/tb", {"b.txt": "b\n"})
    first = merge_into_remote(a, str(bare), "main", "tracks/ta", "Merge ta")
    # b's local main is behind: the merge is computed on the remote's tip, not b's.
    second = merge_into_remote(b, str(bare), "main", "tracks/tb", "Merge tb")
    assert remote_head(bare, "refs/heads/main") == second
    parents = run_git(["rev-list", "--parents", "-n1", second], bare).stdout.split()
    assert parents[1:] == [first, tip_b]
    assert b.head("refs/heads/main") == second  # followed by fast-forward
    # Merging again changes nothing (a merge repeated after a crash).
    assert merge_into_remote(a, str(bare), "main", "tracks/ta", "Merge ta") == second
    merges = run_git(["log", "--merges", "--format=%P", "main"], bare).stdout.splitlines()
    assert sorted(p.split()[1] for p in merges) == sorted([tip_a, tip_b])
    assert run_git(["fsck", "--strict"], bare).ok


def test_a_push_rejected_because_the_remote_moved_is_merged_again(
    bare: Path, tmp_path: Path
) -> None:
    a, c = clone(bare, tmp_path / "a"), clone(bare, tmp_path / "c")
    tip_a = work(a, "tracks/ta", {"a.txt": "a\n"})
    # Another host's commit, pushed to the remote under its own name for the hook to use.
    other = work(c, "tracks/tc", {"c.txt": "c\n"})
    c.git("push", "--quiet", str(bare), "tracks/tc")
    # The remote's hook moves main to that commit during our first push of main only (and
    # accepts the push): the real race of two hosts merging at once, which git's own
    # compare-and-swap of the ref refuses.
    marker = tmp_path / "raced"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        f'  if [ "$ref" = refs/heads/main ] && [ ! -e {marker} ]; then\n'
        f"    touch {marker}\n"
        f"    env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main {other} $old\n"
        "  fi\n"
        "done\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    merged = merge_into_remote(a, str(bare), "main", "tracks/ta", "Merge ta")
    assert marker.exists()
    assert remote_head(bare, "refs/heads/main") == merged
    parents = run_git(["rev-list", "--parents", "-n1", merged], bare).stdout.split()
    assert parents[1:] == [other, tip_a]  # on top of what the other host pushed: nothing lost


def test_a_host_takes_the_remote_track_branch(bare: Path, tmp_path: Path) -> None:
    a, b = clone(bare, tmp_path / "a"), clone(bare, tmp_path / "b")
    assert take_remote_branch(b, str(bare), "tracks/t1") is None
    tip = work(a, "tracks/t1", {"a.txt": "a\n"})
    push_refs(a, str(bare), ["refs/heads/tracks/t1"])
    assert take_remote_branch(b, str(bare), "tracks/t1") == tip
    assert b.head("refs/heads/tracks/t1") == tip
    assert fetch_branch(b, str(bare), "no-such-branch") is None
