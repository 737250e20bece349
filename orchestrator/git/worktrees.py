"""Worktree bookkeeping: list, add, remove, prune, repair, all under the repo-wide lock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.domain.errors import GitError

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo, PathLike

#: The lock reason ``git worktree add`` leaves behind when it dies before finishing.
INITIALIZING_REASON = "initializing"


@dataclass(frozen=True)
class Worktree:
    """One entry of ``git worktree list --porcelain``."""

    path: Path
    head: str | None
    #: Short branch name (``tracks/x``), None when detached or bare.
    branch: str | None
    #: Lock reason; "" when locked without one, None when not locked.
    locked: str | None = None
    #: Why git considers it prunable (its directory is gone), None when it is not.
    prunable: str | None = None
    bare: bool = False

    @property
    def is_locked(self) -> bool:
        return self.locked is not None

    @property
    def is_prunable(self) -> bool:
        return self.prunable is not None

    @property
    def is_initializing(self) -> bool:
        return self.locked == INITIALIZING_REASON


def parse_worktree_list_z(output: str) -> list[Worktree]:
    """Parse ``git worktree list --porcelain -z``: NUL-terminated lines, records end in NUL."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in output.split("\0"):
        if not line:
            if current:
                records.append(current)
                current = {}
            continue
        key, _, value = line.partition(" ")
        current[key] = value
    if current:
        records.append(current)
    result = []
    for rec in records:
        if "worktree" not in rec:
            continue
        branch = rec.get("branch")
        if branch is not None and branch.startswith("refs/heads/"):
            branch = branch[len("refs/heads/") :]
        head = rec.get("HEAD")
        result.append(
            Worktree(
                path=Path(rec["worktree"]).resolve(),
                head=head if head and set(head) != {"0"} else None,
                branch=branch,
                locked=rec.get("locked"),
                prunable=rec.get("prunable"),
                bare="bare" in rec,
            )
        )
    return result


def parse_status_z(output: str) -> list[str]:
    """Paths in ``git status --porcelain=v1 -z`` output (renames give their new path)."""
    paths: list[str] = []
    tokens = iter(output.split("\0"))
    for entry in tokens:
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            next(tokens, None)  # the rename's source path
    return paths


def parse_status_v2_head(output: str) -> tuple[str | None, bool]:
    """(HEAD's sha or None when unborn, clean) from ``git status --porcelain=v2 --branch -z``:
    its ``# branch.oid`` header, and whether any entry (changed, unmerged, untracked)
    follows the headers."""
    head: str | None = None
    clean = True
    for entry in output.split("\0"):
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid ") :].strip()
            head = None if oid == "(initial)" else oid
        elif entry and not entry.startswith("#"):
            clean = False
    return head, clean


def list_worktrees(repo: GitRepo) -> list[Worktree]:
    """Every worktree git knows of, the main one first."""
    return parse_worktree_list_z(repo.git("worktree", "list", "--porcelain", "-z").stdout)


def find_worktree(repo: GitRepo, path: PathLike) -> Worktree | None:
    target = Path(path).resolve()
    return next((wt for wt in list_worktrees(repo) if wt.path == target), None)


def worktree_of_branch(repo: GitRepo, branch: str) -> Worktree | None:
    """The worktree that has ``branch`` checked out, if any."""
    return next((wt for wt in list_worktrees(repo) if wt.branch == branch), None)


def _require_empty_or_missing(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise GitError(f"cannot create worktree at {path}: it exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise GitError(f"cannot create worktree at {path}: the directory is not empty")


def add_worktree(
    repo: GitRepo, path: PathLike, branch: str, start_point: str | None = None
) -> Worktree:
    """Check out ``branch`` in a new worktree at ``path``.

    The branch is created from ``start_point`` when it does not exist yet; an existing branch
    is checked out as it is (resuming a track keeps its commits).
    """
    target = Path(path).resolve()
    repo.validate_ref_name(branch)
    with repo.lock():
        _require_empty_or_missing(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if repo.branch_exists(branch):
            repo.git("worktree", "add", "--quiet", str(target), branch)
        else:
            if start_point is None:
                raise GitError(f"branch {branch!r} does not exist and no start point was given")
            start = repo.head(start_point)
            repo.git("worktree", "add", "--quiet", "--no-track", "-b", branch, str(target), start)
        added = find_worktree(repo, target)
    if added is None:
        raise GitError(f"git worktree add reported success but {target} is not registered")
    return added


def remove_worktree(repo: GitRepo, path: PathLike, snapshot_ref: str | None = None) -> str | None:
    """Remove the worktree at ``path``; its branch stays.

    Uncommitted work is never thrown away silently: with work present, the call raises
    GitError unless ``snapshot_ref`` is given, in which case the work is first kept as a
    snapshot commit under that ref and its sha returned. A missing directory is pruned; a path
    that is no worktree at all is a no-op when absent and an error when present.
    """
    target = Path(path).resolve()
    with repo.lock():
        listed = list_worktrees(repo)
        entry = next((wt for wt in listed if wt.path == target), None)
        if entry is None:
            if target.exists():
                raise GitError(f"{target} is not a registered worktree of {repo.path}")
            return None
        if entry is listed[0] or entry.path == repo.path:
            raise GitError(f"refusing to remove the main worktree {target}")
        if not target.is_dir():
            unlock(repo, entry)
            prune(repo)
            return None
        sha = None
        if not repo.is_clean(target):
            if snapshot_ref is None:
                raise GitError(
                    f"worktree {target} holds uncommitted work; commit it or remove with a "
                    "snapshot ref"
                )
            sha = repo.snapshot(target, snapshot_ref)
        unlock(repo, entry)
        # --force: ignored files (build output, caches) and work just kept in a snapshot.
        repo.git("worktree", "remove", "--force", str(target))
        return sha


def unlock(repo: GitRepo, entry: Worktree) -> None:
    """Lift a worktree's lock (prune and remove skip locked ones)."""
    if entry.is_locked:
        repo.git("worktree", "unlock", str(entry.path))


def prune(repo: GitRepo) -> None:
    """Forget worktrees whose directories are gone (locked ones excepted, as git does)."""
    with repo.lock():
        repo.git("worktree", "prune")


def repair(repo: GitRepo, paths: Sequence[PathLike] = ()) -> None:
    """Re-link worktrees whose directory or admin files moved (``git worktree repair``)."""
    with repo.lock():
        repo.git("worktree", "repair", *(str(Path(p).resolve()) for p in paths))
