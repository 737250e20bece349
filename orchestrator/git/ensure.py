"""ensure_worktree: bring a track's worktree back to "exists, on its branch", whatever crashed.

Every repair here either loses nothing by construction (a directory git never finished
initialising, a registration whose directory is gone) or refuses with a GitError that names
the directory, so that uncommitted work is never replaced silently.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.domain.errors import GitError
from orchestrator.git.index_lock import clear_stale_index_lock
from orchestrator.git.worktrees import (
    Worktree,
    add_worktree,
    find_worktree,
    prune,
    unlock,
    worktree_of_branch,
)

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo, PathLike


def ensure_worktree(repo: GitRepo, path: PathLike, branch: str, base: str) -> Worktree:
    """A worktree at ``path`` with ``branch`` checked out, creating or repairing as needed.

    Idempotent. ``branch`` is created from ``base`` when it does not exist. Handles: a
    registration whose directory is gone (pruned, then re-added), a worktree ``git worktree
    add`` left locked as "initializing" (finished or rebuilt), the branch still registered at
    another path whose directory is gone (pruned), a moved worktree (repaired). Raises
    GitError, naming the directory, rather than replace one that may hold work.
    """
    target = Path(path).resolve()
    repo.validate_ref_name(branch)
    with repo.lock():
        entry = find_worktree(repo, target)
        if entry is None and target.exists():
            entry = _reattach(repo, target)
        if entry is not None and entry.is_initializing:
            entry = _finish_initializing(repo, entry)
        # git never calls a locked worktree prunable, even when its directory is gone.
        if entry is not None and (entry.is_prunable or not entry.path.exists()):
            entry = _drop_stale(repo, entry)
        if entry is None:
            _free_branch(repo, branch, target)
            entry = add_worktree(repo, target, branch, base)
        return _on_branch(repo, entry, branch, base)


def _reattach(repo: GitRepo, target: Path) -> Worktree | None:
    """An existing directory that git does not list at ``target``: relink it or refuse."""
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return None  # git worktree add accepts an empty directory
    if (target / ".git").is_file():
        # A worktree moved here by hand still names its admin dir: repair relinks both ways.
        repo.git("worktree", "repair", str(target), check=False)
        entry = find_worktree(repo, target)
        if entry is not None:
            return entry
    raise GitError(
        f"{target} exists and is not a worktree of {repo.path}; it may hold work, so it is "
        "left as it is: move it away or remove it"
    )


def _finish_initializing(repo: GitRepo, entry: Worktree) -> Worktree | None:
    """Complete or discard a worktree whose ``git worktree add`` was killed.

    git holds the "initializing" lock until its checkout is done and returns only after
    releasing it, so no agent has ever run in such a directory: its files all came from git.
    """
    target = entry.path
    unlock(repo, entry)
    if target.is_dir():
        branch = _head_branch(repo, target)
        if branch is not None and repo.branch_exists(branch):
            # git died in (or before) its final "reset --hard": run that step ourselves, after
            # dropping the index.lock the killed reset may have left. Age does not matter: a
            # live "worktree add" through this module would hold the repo lock we hold now.
            clear_stale_index_lock(repo, target, min_age_s=0)
            repo.git("reset", "--hard", "--quiet", "--no-recurse-submodules", cwd=target)
            refreshed = find_worktree(repo, target)
            if refreshed is not None and not refreshed.is_prunable:
                return refreshed
        # HEAD was never pointed at a branch (still the null id): nothing to finish.
        shutil.rmtree(target)
    prune(repo)
    return None


def _head_branch(repo: GitRepo, target: Path) -> str | None:
    """The branch HEAD names in worktree ``target``, None when HEAD or the link is unusable."""
    if not (target / ".git").is_file():
        return None  # git run there would find the enclosing repository instead
    try:
        cwd = repo.worktree_path(target)
    except GitError:
        return None
    head = repo.git("symbolic-ref", "--quiet", "HEAD", cwd=cwd, check=False)
    ref = head.stdout.strip()
    return ref.removeprefix("refs/heads/") if head.ok and ref.startswith("refs/heads/") else None


def _drop_stale(repo: GitRepo, entry: Worktree) -> Worktree | None:
    """A registration git calls prunable: its directory or its ``.git`` file is gone."""
    target = entry.path
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        repo.git("worktree", "repair", str(target), check=False)
        refreshed = find_worktree(repo, target)
        if refreshed is not None and not refreshed.is_prunable:
            return refreshed
        raise GitError(
            f"{target} is registered as a worktree but its link to the repository is broken, "
            "and it is not empty; it may hold work, so it is left as it is: move it away"
        )
    unlock(repo, entry)
    prune(repo)
    return None


def _free_branch(repo: GitRepo, branch: str, target: Path) -> None:
    """Release ``branch`` from a stale registration at another path ("already checked out")."""
    other = worktree_of_branch(repo, branch)
    if other is None or other.path == target:
        return
    if other.is_prunable or not other.path.exists():
        unlock(repo, other)
        prune(repo)
        other = worktree_of_branch(repo, branch)
        if other is None or other.path == target:
            return
    raise GitError(
        f"branch {branch!r} is checked out in another worktree {other.path}; remove that "
        f"worktree before using {target}"
    )


def _on_branch(repo: GitRepo, entry: Worktree, branch: str, base: str) -> Worktree:
    """``entry`` switched to ``branch`` if it is elsewhere and clean; refuse when dirty."""
    target = entry.path
    current = repo.current_branch(target)
    if current == branch:
        return find_worktree(repo, target) or entry
    if not repo.is_clean(target):
        raise GitError(
            f"worktree {target} is on {current or 'a detached HEAD'} with uncommitted work, "
            f"not on {branch!r}; commit or snapshot it first"
        )
    _free_branch(repo, branch, target)
    if not repo.branch_exists(branch):
        repo.create_branch(branch, base)
    repo.git("switch", "--quiet", "--no-guess", branch, cwd=target)
    refreshed = find_worktree(repo, target)
    if refreshed is None or refreshed.branch != branch:
        raise GitError(f"worktree {target} did not end up on {branch!r}")
    return refreshed
