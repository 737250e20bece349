"""Snapshot commits: a worktree's full state kept under a ref, without touching the worktree.

A snapshot is a commit whose tree is the worktree as it is on disk (tracked changes and
untracked, non-ignored files) and whose parent is the worktree's HEAD. It is built in a
temporary index, so the agent working in that worktree sees no change to its index, HEAD,
files or ``index.lock``.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.domain.errors import GitError
from orchestrator.git.names import validate_full_ref

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo, PathLike

#: Where discard_changes keeps what it discards when the caller names no ref.
DISCARDED_REF_PREFIX = "refs/orchestrator/discarded/"


@dataclass(frozen=True)
class SnapshotRef:
    ref: str
    sha: str


def _head_or_none(repo: GitRepo, worktree: Path) -> str | None:
    result = repo.git(
        "rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=worktree, check=False
    )
    return result.stdout.strip() if result.ok else None


def _empty_tree(repo: GitRepo, worktree: Path) -> str:
    # Ask git rather than assume SHA-1: a SHA-256 repository has another empty-tree id.
    return repo.git("hash-object", "-t", "tree", "--stdin", cwd=worktree, input="").stdout.strip()


def capture_tree(repo: GitRepo, worktree: Path, head: str | None) -> str:
    """The tree of ``worktree`` as on disk, written through a throw-away index."""
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        # From HEAD's tree rather than a copy of the real index: the real index may carry
        # assume-unchanged or skip-worktree bits that would make add -A miss changes.
        if head is not None:
            repo.git("read-tree", head, cwd=worktree, env=env)
        else:
            repo.git("read-tree", "--empty", cwd=worktree, env=env)
        repo.git("add", "-A", cwd=worktree, env=env)
        return repo.git("write-tree", cwd=worktree, env=env).stdout.strip()


def snapshot(repo: GitRepo, worktree: PathLike, ref: str, message: str | None = None) -> str:
    """Commit ``worktree``'s full state (HEAD as parent), point ``ref`` at it, return its sha.

    ``ref`` is a full ref outside branches and tags, e.g. from ``checkpoint_ref``; an
    existing ref is overwritten, so a retried checkpoint keeps the newest state.
    """
    wt = repo.worktree_path(worktree)
    validate_full_ref(ref, repo.path)
    head = _head_or_none(repo, wt)
    tree = capture_tree(repo, wt, head)
    args = ["commit-tree", "--no-gpg-sign", tree]
    if head is not None:
        args += ["-p", head]
    text = message or f"orchestrator snapshot of {wt}"
    sha = repo.git(*args, "-F", "-", cwd=wt, input=text).stdout.strip()
    repo.git("update-ref", "-m", "orchestrator: snapshot", ref, sha)
    return sha


def _commit_info(repo: GitRepo, sha: str) -> tuple[str, str, list[str]]:
    """(commit, tree, parents) of ``sha``."""
    commit = repo.head(sha)
    line = repo.git("rev-list", "--parents", "-n", "1", commit).stdout.split()
    tree = repo.git("rev-parse", f"{commit}^{{tree}}").stdout.strip()
    return commit, tree, line[1:]


def _diff_paths(repo: GitRepo, wt: Path, old_tree: str, new_tree: str, filt: str) -> list[str]:
    out = repo.git(
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        f"--diff-filter={filt}",
        old_tree,
        new_tree,
        cwd=wt,
    ).stdout
    return [p for p in out.split("\0") if p]


def restore_snapshot(repo: GitRepo, worktree: PathLike, sha: str) -> None:
    """Put snapshot ``sha``'s files back into ``worktree``; HEAD and the index stay as they are.

    The worktree's HEAD must be the snapshot's parent (restoring onto another commit would
    turn that commit's own changes into "uncommitted" ones) and the worktree must hold no
    uncommitted work of its own, unless it already equals the snapshot, when nothing is done.
    The restored work then shows as uncommitted changes and untracked files, as it was.
    """
    wt = repo.worktree_path(worktree)
    commit, snap_tree, parents = _commit_info(repo, sha)
    head = _head_or_none(repo, wt)
    expected = parents[0] if parents else None
    if head != expected:
        raise GitError(
            f"snapshot {commit[:12]} was taken on {expected or 'an unborn branch'}, but {wt} "
            f"is at {head or 'an unborn branch'}; restore it onto a worktree at its parent"
        )
    current = capture_tree(repo, wt, head)
    if current == snap_tree:
        return
    if head is not None:
        head_tree = repo.git("rev-parse", f"{head}^{{tree}}", cwd=wt).stdout.strip()
    else:
        head_tree = _empty_tree(repo, wt)
    if current != head_tree:
        changed = repo.status_paths(wt)
        raise GitError(
            f"worktree {wt} holds uncommitted work that restoring snapshot {commit[:12]} would "
            f"overwrite ({', '.join(changed[:5])}); commit or snapshot it first"
        )
    for rel in _diff_paths(repo, wt, head_tree, snap_tree, "D"):
        _remove_file(wt, rel)
    written = _diff_paths(repo, wt, head_tree, snap_tree, "AMT")
    if written:
        with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            repo.git("read-tree", snap_tree, cwd=wt, env=env)
            repo.git(
                "checkout-index",
                "--force",
                "-z",
                "--stdin",
                cwd=wt,
                env=env,
                input="\0".join(written) + "\0",
            )


def _remove_file(wt: Path, rel: str) -> None:
    path = wt / rel
    path.unlink(missing_ok=True)
    # Directories emptied by the deletion go too, as git itself would leave no empty ones.
    parent = path.parent
    while parent != wt and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def discard_changes(repo: GitRepo, worktree: PathLike, keep_ref: str | None = None) -> str | None:
    """Reset ``worktree`` to its HEAD (ignored files stay), keeping what it drops.

    The uncommitted work is first stored as a snapshot under ``keep_ref`` (default
    ``refs/orchestrator/discarded/<branch>/<time>``), so even a caller whose own checkpoint
    failed loses nothing. Returns that snapshot's sha, None when there was nothing to drop.
    """
    wt = repo.worktree_path(worktree)
    if repo.is_clean(wt):
        return None
    if keep_ref is None:
        branch = repo.current_branch(wt) or "detached"
        keep_ref = f"{DISCARDED_REF_PREFIX}{branch}/{time.time_ns()}"
    sha = snapshot(repo, wt, keep_ref, f"orchestrator: work discarded from {wt}")
    repo.git("reset", "--hard", "--quiet", cwd=wt)
    repo.git("clean", "-d", "--force", "--quiet", cwd=wt)
    return sha


def natural_ref_key(ref: str) -> list[tuple[int, int | str]]:
    # refs/.../track/10 after .../track/9: checkpoint numbers sort as numbers.
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", ref)]


def list_snapshot_refs(repo: GitRepo, prefix: str) -> list[SnapshotRef]:
    """Refs under ``prefix`` (a full ref path such as ``refs/orchestrator/checkpoints/t``)."""
    if not prefix.startswith("refs/"):
        raise GitError(f"invalid ref prefix {prefix!r}: expected refs/...")
    out = repo.git("for-each-ref", "--format=%(refname)%00%(objectname)", prefix.rstrip("/"))
    refs = []
    for line in out.stdout.splitlines():
        name, _, sha = line.partition("\0")
        if name and sha:
            refs.append(SnapshotRef(name, sha))
    return sorted(refs, key=lambda r: natural_ref_key(r.ref))


def delete_ref(repo: GitRepo, ref: str, expected_sha: str | None = None) -> None:
    """Delete snapshot ref ``ref``; with ``expected_sha`` only if it still points there."""
    validate_full_ref(ref, repo.path)
    args = ["update-ref", "-d", ref]
    if expected_sha is not None:
        args.append(expected_sha)
    repo.git(*args)
