"""GitRepo: one project repository and every git operation the orchestrator performs on it.

The methods are synchronous (the daemon calls them through ``anyio.to_thread``); worktree,
snapshot, index-lock and merge logic live in their own modules and GitRepo only forwards,
so callers hold one object per project.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.domain.errors import GitError, WorktreeIntegrityError
from orchestrator.git import ensure, index_lock, integrity, merges, snapshots, worktrees
from orchestrator.git.index_lock import DEFAULT_STALE_LOCK_AGE_S, LockProbe, psutil_probe
from orchestrator.git.locks import DEFAULT_LOCK_TIMEOUT_S, REPO_LOCK_NAME, RepoLock
from orchestrator.git.names import validate_branch_name
from orchestrator.git.runner import (
    DEFAULT_GIT_TIMEOUT_S,
    DEFAULT_IDENTITY,
    GitResult,
    Identity,
    run_git,
)
from orchestrator.git.snapshots import SnapshotRef
from orchestrator.git.worktrees import Worktree

PathLike = Path | str


def is_git_repo(path: PathLike) -> bool:
    """Whether ``path`` is inside a git work tree."""
    p = Path(path)
    if not p.is_dir():
        return False
    result = run_git(["rev-parse", "--is-inside-work-tree"], p, check=False)
    return result.ok and result.stdout.strip() == "true"


#: Worktrees this process has checked (repository, path) -> the stat of their ``.git``
#: file then. A worktree keeps that file for its life; removed, re-added or replaced by a
#: plain directory, the stat differs or fails and the check runs again. It saves a
#: ``git rev-parse`` per operation (several per WO).
_VERIFIED_WORKTREES: dict[tuple[Path, Path], tuple[int, int, int, int]] = {}


#: Repositories this process has opened: the directory given -> the identity of its ``.git``
#: directory then, the top level and the common dir git named. The daemon opens a project's
#: repository once per WO, merge and checkpoint; with the same ``.git`` directory in place
#: git would answer the same, so the ``git rev-parse`` is saved.
_OPENED_REPOS: dict[Path, tuple[tuple[int, int], Path, Path]] = {}


def _repo_marker(path: Path) -> tuple[int, int] | None:
    """Identity of ``path/.git`` when it is a directory (a main checkout's), else None."""
    try:
        st = (path / ".git").lstat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _worktree_marker(path: Path) -> tuple[int, int, int, int] | None:
    """Identity of ``path/.git`` when it is a file (a linked worktree's), else None."""
    try:
        st = (path / ".git").lstat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _locate(given: Path) -> tuple[Path, Path]:
    """The top level and the common dir of the repository at ``given`` (asked of git once
    while its ``.git`` directory stays the same one)."""
    marker = _repo_marker(given)
    known = _OPENED_REPOS.get(given)
    if marker is not None and known is not None and known[0] == marker:
        return known[1], known[2]
    result = run_git(
        ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"],
        given,
        check=False,
    )
    lines = result.stdout.splitlines()
    if not result.ok or len(lines) < 2:
        raise GitError(f"{given} is not a git repository")
    top, common = Path(lines[0]).resolve(), Path(lines[1]).resolve()
    if marker is not None:
        _OPENED_REPOS[given] = (marker, top, common)
    return top, common


class GitRepo:
    """A git repository with worktrees, snapshot refs and merges, driven by the git CLI."""

    def __init__(
        self,
        path: PathLike,
        *,
        identity: Identity = DEFAULT_IDENTITY,
        timeout_s: float = DEFAULT_GIT_TIMEOUT_S,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        given = Path(path).resolve()
        if not given.is_dir():
            raise GitError(f"{given} is not a directory")
        self.path, self.common_dir = _locate(given)
        self.identity = identity
        self.timeout_s = timeout_s
        self.lock_timeout_s = lock_timeout_s

    def __repr__(self) -> str:
        return f"GitRepo({str(self.path)!r})"

    # -- plumbing -------------------------------------------------------------------------

    def git(
        self,
        *args: str,
        cwd: PathLike | None = None,
        env: Mapping[str, str] | None = None,
        identity: Identity | None = None,
        input: str | None = None,
        check: bool = True,
    ) -> GitResult:
        """Run ``git <args>`` in ``cwd`` (default: the repository) with this repo's settings."""
        return run_git(
            args,
            Path(cwd) if cwd is not None else self.path,
            env=env,
            identity=identity or self.identity,
            input=input,
            check=check,
            timeout_s=self.timeout_s,
        )

    def lock(self) -> RepoLock:
        """The repo-wide lock held around worktree bookkeeping and merges."""
        return RepoLock(self.common_dir / REPO_LOCK_NAME, self.lock_timeout_s)

    def worktree_path(self, worktree: PathLike) -> Path:
        """``worktree`` resolved, checked to be the top of a live worktree of this repository.

        Run in a plain directory inside the main checkout, git would act on the main checkout:
        every per-worktree operation goes through this check first.
        """
        p = Path(worktree).resolve()
        marker = _worktree_marker(p)
        key = (self.common_dir, p)
        if marker is not None and _VERIFIED_WORKTREES.get(key) == marker:
            return p
        if not p.is_dir():
            raise GitError(f"worktree {p} does not exist")
        result = self.git(
            "rev-parse",
            "--path-format=absolute",
            "--show-toplevel",
            "--git-common-dir",
            cwd=p,
            check=False,
        )
        lines = result.stdout.splitlines()
        if not result.ok or len(lines) < 2:
            raise GitError(f"{p} is not a git worktree")
        if Path(lines[0]).resolve() != p or Path(lines[1]).resolve() != self.common_dir:
            raise GitError(f"{p} is not a worktree of {self.path}")
        if marker is not None:
            _VERIFIED_WORKTREES[key] = marker
        return p

    # -- refs and commits -----------------------------------------------------------------

    def validate_ref_name(self, name: str) -> str:
        """``name`` if git accepts it as a branch name, else InvalidRefNameError."""
        return validate_branch_name(name, self.path)

    def head(self, ref: str = "HEAD", worktree: PathLike | None = None) -> str:
        """The commit sha ``ref`` names (HEAD of ``worktree`` when given, else of the repo)."""
        if not ref or ref.startswith("-"):
            raise GitError(f"invalid revision {ref!r}")
        cwd = self.worktree_path(worktree) if worktree is not None else self.path
        result = self.git(
            "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd, check=False
        )
        if not result.ok:
            raise GitError(f"{ref!r} does not name a commit in {cwd}")
        return result.stdout.strip()

    def has_commit(self, sha: str) -> bool:
        """Whether this repository has the commit ``sha`` (fetched or made here)."""
        return self.git("cat-file", "-e", f"{sha}^{{commit}}", check=False).ok

    def branch_exists(self, name: str) -> bool:
        result = self.git("show-ref", "--verify", "--quiet", f"refs/heads/{name}", check=False)
        return result.ok

    def create_branch(self, name: str, start: str) -> str:
        """Create branch ``name`` at ``start`` (never moving an existing one); its sha."""
        self.validate_ref_name(name)
        sha = self.head(start)
        # update-ref with an all-zero old value creates only: a concurrent creator loses cleanly.
        self.git(
            "update-ref",
            "-m",
            f"orchestrator: branch {name} from {start}",
            f"refs/heads/{name}",
            sha,
            "0" * len(sha),
        )
        return sha

    def current_branch(self, worktree: PathLike) -> str | None:
        """The branch checked out in ``worktree``, None when its HEAD is detached."""
        result = self.git(
            "symbolic-ref",
            "--quiet",
            "--short",
            "HEAD",
            cwd=self.worktree_path(worktree),
            check=False,
        )
        return result.stdout.strip() if result.ok else None

    def status_paths(self, worktree: PathLike) -> list[str]:
        """Paths with uncommitted changes in ``worktree``, untracked non-ignored files included."""
        result = self.git(
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            cwd=self.worktree_path(worktree),
            # No index refresh: status must not take index.lock under a running agent.
            env={"GIT_OPTIONAL_LOCKS": "0"},
        )
        return worktrees.parse_status_z(result.stdout)

    def head_and_clean(self, worktree: PathLike) -> tuple[str | None, bool]:
        """``worktree``'s HEAD commit (None on an unborn branch) and whether it is clean (as
        ``is_clean``), from one git process: a checkpoint needs both."""
        result = self.git(
            "status",
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=all",
            cwd=self.worktree_path(worktree),
            env={"GIT_OPTIONAL_LOCKS": "0"},
        )
        return worktrees.parse_status_v2_head(result.stdout)

    def is_clean(self, worktree: PathLike) -> bool:
        """No modified, staged, deleted or untracked (non-ignored) files in ``worktree``."""
        return not self.status_paths(worktree)

    def commit_all(
        self,
        worktree: PathLike,
        message: str,
        author: Identity | None = None,
        *,
        allow_empty: bool = False,
        branch: str | None = None,
    ) -> str | None:
        """Stage everything (``add -A``) and commit; the new sha.

        With nothing to commit: None, or with ``allow_empty`` an empty commit (the record
        that a unit of work ended here, even when it changed no file). With ``branch``, the
        worktree is checked first (``integrity``): WorktreeIntegrityError, nothing committed.
        """
        if not message.strip():
            raise GitError("empty commit message")
        if branch is not None:
            problem = self.worktree_problem(worktree, branch)
            if problem is not None:
                raise WorktreeIntegrityError(problem)
        wt = self.worktree_path(worktree)
        self.git("add", "-A", cwd=wt)
        if not allow_empty:
            # Whether anything is staged matters only when an empty commit is not wanted.
            staged = self.git("diff", "--cached", "--quiet", cwd=wt, check=False)
            if staged.returncode == 0:
                return None
            if staged.returncode != 1:
                raise GitError(f"git diff --cached failed in {wt}")
        # --no-verify: the project's check command is run by the daemon, and a user hook that
        # waits for input would hang an unattended night.
        self.git(
            "commit",
            "--allow-empty",
            "--no-verify",
            "--no-gpg-sign",
            "--cleanup=whitespace",
            "-q",
            "-F",
            "-",
            cwd=wt,
            identity=author,
            input=message,
        )
        return self.head("HEAD", wt)

    def worktree_problem(self, worktree: PathLike, branch: str) -> str | None:
        """Why ``worktree`` is not this repository's worktree of ``branch``, or None."""
        return integrity.worktree_problem(self, worktree, branch)

    def commits_between(self, base: str, branch: str) -> list[str]:
        """Shas reachable from ``branch`` but not from ``base``, oldest first."""
        result = self.git("rev-list", "--reverse", f"{self.head(base)}..{self.head(branch)}")
        return result.stdout.split()

    def log_messages(self, branch: str, since: str | None = None) -> list[str]:
        """Full messages of the commits on ``branch`` after ``since``, oldest first."""
        tip = self.head(branch)
        revs = f"{self.head(since)}..{tip}" if since is not None else tip
        result = self.git("log", "-z", "--reverse", "--format=%B", revs)
        return [m.strip() for m in result.stdout.split("\0") if m.strip()]

    def is_merged(self, branch: str, into: str) -> bool:
        """Whether every commit of ``branch`` is reachable from ``into``."""
        result = self.git(
            "merge-base", "--is-ancestor", self.head(branch), self.head(into), check=False
        )
        if result.returncode not in (0, 1):
            raise GitError(f"git merge-base --is-ancestor {branch} {into} failed")
        return result.returncode == 0

    def fsck_ok(self) -> bool:
        """Whether ``git fsck`` finds the object store and refs consistent."""
        return self.git("fsck", "--no-progress", check=False).ok

    # -- worktrees (worktrees.py, ensure.py) ----------------------------------------------

    def list_worktrees(self) -> list[Worktree]:
        return worktrees.list_worktrees(self)

    def find_worktree(self, path: PathLike) -> Worktree | None:
        return worktrees.find_worktree(self, path)

    def add_worktree(self, path: PathLike, branch: str, start_point: str | None = None) -> Worktree:
        return worktrees.add_worktree(self, path, branch, start_point)

    def remove_worktree(self, path: PathLike, snapshot_ref: str | None = None) -> str | None:
        return worktrees.remove_worktree(self, path, snapshot_ref)

    def prune(self) -> None:
        worktrees.prune(self)

    def repair(self, paths: Sequence[PathLike] = ()) -> None:
        worktrees.repair(self, paths)

    def ensure_worktree(self, path: PathLike, branch: str, base: str) -> Worktree:
        return ensure.ensure_worktree(self, path, branch, base)

    # -- snapshots (snapshots.py) ---------------------------------------------------------

    def snapshot(self, worktree: PathLike, ref: str, message: str | None = None) -> str:
        return snapshots.snapshot(self, worktree, ref, message)

    def restore_snapshot(self, worktree: PathLike, sha: str) -> None:
        snapshots.restore_snapshot(self, worktree, sha)

    def discard_changes(self, worktree: PathLike, keep_ref: str | None = None) -> str | None:
        return snapshots.discard_changes(self, worktree, keep_ref)

    def list_snapshot_refs(self, prefix: str) -> list[SnapshotRef]:
        return snapshots.list_snapshot_refs(self, prefix)

    def delete_ref(self, ref: str, expected_sha: str | None = None) -> None:
        snapshots.delete_ref(self, ref, expected_sha)

    # -- index.lock (index_lock.py) -------------------------------------------------------

    def clear_stale_index_lock(
        self,
        worktree: PathLike,
        min_age_s: float = DEFAULT_STALE_LOCK_AGE_S,
        probe: LockProbe = psutil_probe,
    ) -> bool:
        return index_lock.clear_stale_index_lock(self, worktree, min_age_s, probe)

    # -- merges (merges.py) ---------------------------------------------------------------

    def merge_no_ff(
        self,
        base_branch: str,
        branch: str,
        message: str,
        add_files: Mapping[str, str] | None = None,
    ) -> str:
        return merges.merge_no_ff(self, base_branch, branch, message, add_files)

    def merge_of(self, base_branch: str, tip: str) -> str | None:
        return merges.merge_of(self, base_branch, tip)

    # -- what a branch changed ------------------------------------------------------------

    def diff_numstat(self, base: str, tip: str) -> tuple[int, int, int]:
        """(files changed, lines added, lines deleted) from ``base`` to ``tip``."""
        out = self.git("diff", "--numstat", "-z", "--no-renames", base, tip).stdout
        files = added = deleted = 0
        for entry in out.split("\0"):
            parts = entry.split("\t")
            if len(parts) < 3:
                continue
            files += 1
            # Binary files show "-" for both counts.
            added += int(parts[0]) if parts[0].isdigit() else 0
            deleted += int(parts[1]) if parts[1].isdigit() else 0
        return files, added, deleted

    def list_dir(self, ref: str, directory: str) -> list[str]:
        """Names of the files in ``directory`` of ``ref``'s tree ([] when it has none)."""
        result = self.git("ls-tree", "--name-only", f"{self.head(ref)}:{directory}", check=False)
        return [n for n in result.stdout.splitlines() if n] if result.ok else []

    def added_files(self, commit: str, directory: str) -> list[str]:
        """Files under ``directory`` that ``commit`` added, compared with its first parent."""
        result = self.git(
            "diff-tree",
            "-r",
            "--no-commit-id",
            "--name-only",
            "--diff-filter=A",
            f"{commit}^1",
            commit,
            "--",
            directory,
        )
        return [line for line in result.stdout.splitlines() if line]
