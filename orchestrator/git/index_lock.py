"""Removing an ``index.lock`` that a crashed git process left behind, and only such a one.

A git killed mid-command (an agent's CLI ended by a wall-clock limit, a daemon crash) leaves
``index.lock``, and every later ``git add`` or ``commit`` in that worktree then fails. Deleting
a lock that a live git still holds would corrupt the index, so the lock goes only when no
live process can be holding it.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo, PathLike

#: When liveness cannot be told (processes of other users), a lock younger than this is kept.
DEFAULT_STALE_LOCK_AGE_S = 300.0


class LockState(enum.Enum):
    HELD = "held"
    FREE = "free"
    UNKNOWN = "unknown"


#: Tells whether a live process may hold ``lock_path`` (a lock of worktree ``worktree``).
LockProbe = Callable[[Path, Path], LockState]


def _is_git(proc: psutil.Process) -> bool:
    name = proc.name()
    return name == "git" or name.startswith("git-")


def _inside(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root) + os.sep)


def psutil_probe(lock_path: Path, worktree: Path) -> LockState:
    """HELD when a live process has the lock open or a git process works in the worktree."""
    target = os.path.realpath(lock_path)
    unknown = False
    for proc in psutil.process_iter():
        try:
            if any(os.path.realpath(f.path) == target for f in proc.open_files()):
                return LockState.HELD
            # git closes the lock's descriptor while it runs hooks that write through it
            # (GIT_INDEX_FILE=index.lock), so a git working here counts as a holder too.
            if _is_git(proc) and _inside(os.path.realpath(proc.cwd()), worktree):
                return LockState.HELD
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            unknown = True
    return LockState.UNKNOWN if unknown else LockState.FREE


def index_lock_path(repo: GitRepo, worktree: Path) -> Path:
    """Where git keeps ``worktree``'s index lock (under ``.git/worktrees/<name>/`` if linked)."""
    out = repo.git("rev-parse", "--path-format=absolute", "--git-path", "index.lock", cwd=worktree)
    return Path(out.stdout.strip())


def clear_stale_index_lock(
    repo: GitRepo,
    worktree: PathLike,
    min_age_s: float = DEFAULT_STALE_LOCK_AGE_S,
    probe: LockProbe = psutil_probe,
) -> bool:
    """Remove ``worktree``'s ``index.lock`` if no live process holds it; whether it did.

    When ``probe`` cannot tell (UNKNOWN), the lock goes only if older than ``min_age_s``.
    """
    wt = repo.worktree_path(worktree)
    lock = index_lock_path(repo, wt)
    try:
        before = lock.stat()
    except FileNotFoundError:
        return False
    state = probe(lock, wt)
    if state is LockState.HELD:
        return False
    if state is LockState.UNKNOWN and time.time() - before.st_mtime <= min_age_s:
        return False
    try:
        after = lock.stat()
    except FileNotFoundError:
        return False
    # A new git may have finished with the old lock and taken a fresh one while we looked.
    if (after.st_ino, after.st_mtime_ns) != (before.st_ino, before.st_mtime_ns):
        return False
    lock.unlink(missing_ok=True)
    return True
