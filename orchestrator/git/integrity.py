"""Is a track's worktree still what the daemon made it? Checked before every commit and merge.

An agent that rewrote the worktree's ``.git`` file (say, to point at the main repository's
``.git``) would turn a commit "in the worktree" into a commit on whatever the main checkout
has out, the base branch included. So before committing or merging, the daemon asks git
itself: the worktree's git dir must be one of this repository's worktree entries
(``<common dir>/worktrees/<name>``), that entry must point back at this worktree, and HEAD
must be the track's branch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.domain.errors import GitError

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo, PathLike


def worktree_problem(repo: GitRepo, worktree: PathLike, branch: str) -> str | None:
    """Why ``worktree`` is not ``branch``'s worktree of ``repo`` as we made it, or None."""
    path = Path(worktree).resolve()
    try:
        path = repo.worktree_path(path)
    except GitError as exc:
        return str(exc)
    found = repo.git("rev-parse", "--absolute-git-dir", cwd=path, check=False)
    if not found.ok:
        return f"git cannot find the git dir of {path}"
    git_dir = Path(found.stdout.strip()).resolve()
    entries = (repo.common_dir / "worktrees").resolve()
    if git_dir.parent != entries:
        return f"{path}'s git dir is {git_dir}, not a worktree entry of {repo.path}"
    try:
        back = Path((git_dir / "gitdir").read_text(encoding="utf-8").strip()).resolve()
    except OSError as exc:
        return f"the worktree entry {git_dir} is unreadable: {exc.strerror}"
    if back != path / ".git":
        return f"the worktree entry {git_dir} belongs to {back.parent}, not {path}"
    head = repo.git("symbolic-ref", "-q", "HEAD", cwd=path, check=False).stdout.strip()
    if head != f"refs/heads/{branch}":
        return f"{path} has {head or 'a detached HEAD'} checked out, not refs/heads/{branch}"
    return None
