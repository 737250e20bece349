"""Merging a track branch into its base: computed off to the side, then published atomically.

The merge commit is built with ``git merge-tree --write-tree`` and ``commit-tree``, so no
worktree is touched until the result is known to be clean. Publishing it is a fast-forward:
inside the worktree that has the base checked out (so the user's files follow), or a
compare-and-swap ``update-ref`` when none has. A conflict, a dirty checkout or a lost race
leaves the base branch exactly where it was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.domain.errors import GitError, MergeConflictError
from orchestrator.git.runner import command_error
from orchestrator.git.worktrees import worktree_of_branch

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo

#: How often to recompute a merge when the base branch moved underneath it.
MAX_MERGE_ATTEMPTS = 3


def parse_merge_tree_z(output: str) -> tuple[str, list[str]]:
    """(tree, conflicted paths) from ``merge-tree --write-tree --name-only -z`` output.

    The tree id is followed by one NUL-terminated name per conflicted path and an empty
    entry; the informational messages after it are not needed.
    """
    parts = output.split("\0")
    files: list[str] = []
    for name in parts[1:]:
        if not name:
            break
        if name not in files:
            files.append(name)
    return parts[0].strip(), files


def merge_no_ff(
    repo: GitRepo,
    base_branch: str,
    branch: str,
    message: str,
    add_files: Mapping[str, str] | None = None,
) -> str:
    """Merge ``branch`` into ``base_branch`` with a merge commit; the base's new tip.

    ``add_files`` (path -> text) go into the merge commit itself, beside the merged work
    (an experiment's ADR lands in the same commit as its winner).

    Raises MergeConflictError (naming the files) on conflict and GitError when the checkout
    of the base cannot fast-forward (local changes in the way); in both cases nothing moved.
    When ``branch`` is already contained in the base, the base's tip is returned unchanged,
    so a merge repeated after a crash is harmless.
    """
    if not message.strip():
        raise GitError("empty merge message")
    with repo.lock():
        for _ in range(MAX_MERGE_ATTEMPTS):
            old = repo.head(f"refs/heads/{base_branch}")
            tip = repo.head(f"refs/heads/{branch}")
            if repo.is_merged(tip, old):
                return old
            merged = _merge_commit(repo, base_branch, branch, old, tip, message, add_files)
            if _advance(repo, base_branch, branch, old, merged):
                return merged
    raise GitError(
        f"{base_branch} kept moving while {branch} was being merged into it; "
        f"gave up after {MAX_MERGE_ATTEMPTS} attempts"
    )


def _merge_commit(
    repo: GitRepo,
    base_branch: str,
    branch: str,
    old: str,
    tip: str,
    message: str,
    add_files: Mapping[str, str] | None = None,
) -> str:
    result = repo.git(
        "merge-tree", "--write-tree", "--name-only", "--messages", "-z", old, tip, check=False
    )
    if result.returncode == 1:
        _, files = parse_merge_tree_z(result.stdout)
        listed = ", ".join(files) if files else "unknown files"
        raise MergeConflictError(
            f"merging {branch} into {base_branch} conflicts in {len(files)} file(s): {listed}",
            files,
        )
    if not result.ok:
        raise command_error(result, repo.path)
    tree, _ = parse_merge_tree_z(result.stdout)
    if add_files:
        tree = tree_with_files(repo, tree, add_files)
    return repo.git(
        "commit-tree", "--no-gpg-sign", tree, "-p", old, "-p", tip, "-F", "-", input=message
    ).stdout.strip()


def tree_with_files(repo: GitRepo, tree: str, files: Mapping[str, str]) -> str:
    """``tree`` with ``files`` (path -> text) added or replaced, built in a throw-away index."""
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        repo.git("read-tree", tree, env=env)
        for path, text in files.items():
            blob = repo.git("hash-object", "-w", "--stdin", input=text).stdout.strip()
            repo.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        return repo.git("write-tree", env=env).stdout.strip()


def merge_of(repo: GitRepo, base_branch: str, tip: str) -> str | None:
    """The merge commit on ``base_branch`` whose second parent is ``tip``, if any."""
    result = repo.git("log", "--merges", "--format=%H %P", f"refs/heads/{base_branch}")
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == tip:
            return parts[0]
    return None


def _advance(repo: GitRepo, base_branch: str, branch: str, old: str, new: str) -> bool:
    """Move ``base_branch`` from ``old`` to ``new``; False when it moved away from ``old``."""
    checkout = worktree_of_branch(repo, base_branch)
    if checkout is not None and not checkout.is_prunable and checkout.path.is_dir():
        # --no-autostash: a user's merge.autoStash would stash and re-apply their changes,
        # possibly leaving conflict markers in their files.
        result = repo.git(
            "merge", "--ff-only", "--no-autostash", "--quiet", new, cwd=checkout.path, check=False
        )
        if result.ok:
            return True
        if repo.head(f"refs/heads/{base_branch}") != old:
            return False
        raise GitError(
            f"merged {branch} but could not fast-forward {base_branch} checked out at "
            f"{checkout.path}: {_summary(result.stderr)}; "
            f"{base_branch} was left unchanged"
        )
    result = repo.git(
        "update-ref",
        "-m",
        f"orchestrator: merge {branch}",
        f"refs/heads/{base_branch}",
        new,
        old,
        check=False,
    )
    if result.ok:
        return True
    if repo.head(f"refs/heads/{base_branch}") != old:
        return False
    raise command_error(result, repo.path)


def _summary(stderr: str, limit: int = 300) -> str:
    # git names the files in the way over several lines before a bare "Aborting".
    text = " ".join(stderr.split())
    return (text[:limit] + "...") if len(text) > limit else (text or "git merge --ff-only failed")
