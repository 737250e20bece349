"""The git layer: worktrees, branches, commits, snapshot refs and merges on the git CLI.

Synchronous by design (subprocess git, explicit argument lists); the daemon calls it through
``anyio.to_thread``. Every failure is a ``GitError`` (``MergeConflictError`` for conflicts).
"""

from orchestrator.git.index_lock import DEFAULT_STALE_LOCK_AGE_S, LockProbe, LockState
from orchestrator.git.locks import DEFAULT_LOCK_TIMEOUT_S, REPO_LOCK_NAME, RepoLock
from orchestrator.git.merges import MAX_MERGE_ATTEMPTS
from orchestrator.git.names import (
    CHECKPOINT_REF_PREFIX,
    TRACK_BRANCH_PREFIX,
    InvalidRefNameError,
    checkpoint_ref,
    track_branch,
)
from orchestrator.git.repo import GitRepo, is_git_repo
from orchestrator.git.runner import (
    DEFAULT_GIT_TIMEOUT_S,
    DEFAULT_IDENTITY,
    GitResult,
    Identity,
    run_git,
)
from orchestrator.git.snapshots import DISCARDED_REF_PREFIX, SnapshotRef
from orchestrator.git.worktrees import INITIALIZING_REASON, Worktree

__all__ = [
    "CHECKPOINT_REF_PREFIX",
    "DEFAULT_GIT_TIMEOUT_S",
    "DEFAULT_IDENTITY",
    "DEFAULT_LOCK_TIMEOUT_S",
    "DEFAULT_STALE_LOCK_AGE_S",
    "DISCARDED_REF_PREFIX",
    "INITIALIZING_REASON",
    "MAX_MERGE_ATTEMPTS",
    "REPO_LOCK_NAME",
    "TRACK_BRANCH_PREFIX",
    "GitRepo",
    "GitResult",
    "Identity",
    "InvalidRefNameError",
    "LockProbe",
    "LockState",
    "RepoLock",
    "SnapshotRef",
    "Worktree",
    "checkpoint_ref",
    "is_git_repo",
    "run_git",
    "track_branch",
]
