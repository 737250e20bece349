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
    # One git process for both answers (this runs before every WO's commit): the git dir,
    # and what HEAD names ("HEAD" itself when detached).
    found = repo.git(
        "rev-parse", "--absolute-git-dir", "--symbolic-full-name", "HEAD", cwd=path, check=False
    )
    lines = found.stdout.splitlines()
    if not found.ok or len(lines) < 2:
        return f"git cannot find the git dir and HEAD of {path}"
    git_dir, head = Path(lines[0].strip()).resolve(), lines[1].strip()
    entries = (repo.common_dir / "worktrees").resolve()
    if git_dir.parent != entries:
        return f"{path}'s git dir is {git_dir}, not a worktree entry of {repo.path}"
    try:
        back = Path((git_dir / "gitdir").read_text(encoding="utf-8").strip()).resolve()
    except OSError as exc:
        return f"the worktree entry {git_dir} is unreadable: {exc.strerror}"
    if back != path / ".git":
        return f"the worktree entry {git_dir} belongs to {back.parent}, not {path}"
    if head != f"refs/heads/{branch}":
        shown = "a detached HEAD" if head in ("", "HEAD") else head
        return f"{path} has {shown} checked out, not refs/heads/{branch}"
    return None
