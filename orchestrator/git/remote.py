"""A project's shared remote: how several hosts exchange track branches, checkpoints and merges.

Every host works in its own clone. Track branches and checkpoint refs are pushed after each
WO commit and checkpoint (never forced: a track has one owner at a time, so its branch only
moves forward). A merge into the base branch is computed on top of the remote's tip (fetched
first) and pushed as a fast-forward; a rejection means another host got there first, so the
merge is fetched and computed again (tenacity, a bounded number of times). The caller holds
the database's merge lock, so rejections are rare; the push's compare-and-swap on the remote
is what makes the result correct.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from orchestrator.domain.errors import GitError, ValidationError
from orchestrator.git.merges import _advance, _merge_commit
from orchestrator.git.runner import run_git

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo

#: git URL schemes a remote may use; ``ext::`` and other transports that run commands are not.
REMOTE_SCHEMES = frozenset({"ssh", "git", "http", "https", "file"})
#: ``user@host:path`` (scp-like), the form git reads as ssh.
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")
#: Attempts of a merge whose push was rejected (another host pushed the base meanwhile).
MERGE_PUSH_ATTEMPTS = 5


class PushRejectedError(GitError):
    """The remote refused a push because its ref moved (not a fast-forward)."""


def validate_remote_url(value: str, cwd: Path) -> str:
    """``value`` if it names a usable remote: a path to a bare repository, or a git URL
    (ssh, git, http(s), file, ``user@host:path``); else ValidationError.

    A relative path is taken from ``cwd`` and stored absolute: every host reads it alike.
    """
    text = value.strip()
    if not text or text != value or text.startswith("-") or any(c.isspace() for c in text):
        raise ValidationError(f"invalid remote {value!r}: a bare repository's path or a git URL")
    if "::" in text.split("/", 1)[0]:
        raise ValidationError(f"invalid remote {value!r}: transport helpers are not allowed")
    if "://" in text:
        scheme = urlsplit(text).scheme.lower()
        if scheme not in REMOTE_SCHEMES:
            names = ", ".join(sorted(REMOTE_SCHEMES))
            raise ValidationError(
                f"invalid remote {value!r}: scheme {scheme!r} is not one of {names}"
            )
        if scheme == "file":
            return "file://" + str(_bare_repository(Path(urlsplit(text).path), value))
        if not urlsplit(text).netloc:
            raise ValidationError(f"invalid remote {value!r}: no host")
        return text
    if _SCP_LIKE.fullmatch(text):
        return text
    return str(_bare_repository(cwd / Path(text).expanduser(), value))


def _bare_repository(path: Path, shown: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_dir():
        raise ValidationError(f"remote {shown}: no such directory (a bare repository is needed)")
    result = run_git(["rev-parse", "--is-bare-repository"], resolved, check=False)
    if not result.ok or result.stdout.strip() != "true":
        raise ValidationError(f"remote {shown}: not a bare git repository")
    return resolved


def clone_from(remote: str, target: Path, branch: str | None = None) -> Path:
    """Clone ``remote`` into ``target`` (a host that has no clone of a project yet), with
    ``branch`` (the project's base) checked out, whatever the remote's HEAD names."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".cloning")
    if partial.exists():
        shutil.rmtree(partial)  # a clone cut short by a kill: start it again
    chosen = ["--branch", branch] if branch is not None else []
    run_git(
        ["clone", "--quiet", "--no-hardlinks", *chosen, "--", remote, str(partial)], target.parent
    )
    partial.rename(target)
    return target


def push_refs(repo: GitRepo, remote: str, refs: Sequence[str]) -> None:
    """Push each full ref under its own name, never forced; PushRejectedError on a refusal."""
    if not refs:
        return
    specs = [f"{ref}:{ref}" for ref in refs]
    result = repo.git("push", "--porcelain", "--quiet", remote, *specs, check=False)
    if result.ok:
        return
    if "[rejected]" in result.stdout or "rejected" in result.stderr:
        raise PushRejectedError(f"push to {remote} rejected: {' '.join(refs)}")
    raise GitError(f"push to {remote} failed: {result.stderr.strip()[-300:]}")


def fetch_branch(repo: GitRepo, remote: str, branch: str) -> str | None:
    """The remote's tip of ``branch`` (fetched into this clone's objects), None if absent."""
    result = repo.git("fetch", "--quiet", "--no-tags", remote, f"refs/heads/{branch}", check=False)
    if not result.ok:
        if "couldn't find remote ref" in result.stderr:
            return None
        raise GitError(f"fetch of {branch} from {remote} failed: {result.stderr.strip()[-300:]}")
    return repo.head("FETCH_HEAD")


def fetch_ref(repo: GitRepo, remote: str, ref: str) -> str | None:
    """Fetch ``ref`` from the remote under the same name here; its sha, None if absent."""
    result = repo.git("fetch", "--quiet", "--no-tags", remote, f"+{ref}:{ref}", check=False)
    if not result.ok:
        if "couldn't find remote ref" in result.stderr:
            return None
        raise GitError(f"fetch of {ref} from {remote} failed: {result.stderr.strip()[-300:]}")
    return repo.head(ref)


def merge_into_remote(
    repo: GitRepo,
    remote: str,
    base_branch: str,
    branch: str,
    message: str,
    add_files: Mapping[str, str] | None = None,
) -> str:
    """Merge ``branch`` into the remote's ``base_branch`` (no force); the base's new tip.

    Fetches the base, merges on top of its remote tip off to the side, pushes the merge
    commit as a fast-forward, then moves the local base there when it can fast-forward. A
    branch already merged is not merged again (a merge repeated after a crash is harmless).
    ``add_files`` go into the merge commit (an experiment's ADR). MergeConflictError on a
    conflict; GitError after the bounded retries.
    """
    if not message.strip():
        raise GitError("empty merge message")
    push_refs(repo, remote, [f"refs/heads/{branch}"])
    for attempt in Retrying(
        retry=retry_if_exception_type(PushRejectedError),
        stop=stop_after_attempt(MERGE_PUSH_ATTEMPTS),
        wait=wait_exponential(multiplier=0.05, max=1.0),
        reraise=True,
    ):
        with attempt:
            merged = _merge_once(repo, remote, base_branch, branch, message, add_files)
    _follow(repo, base_branch, branch, merged)
    return merged


def _merge_once(
    repo: GitRepo,
    remote: str,
    base_branch: str,
    branch: str,
    message: str,
    add_files: Mapping[str, str] | None,
) -> str:
    with repo.lock():
        remote_tip = fetch_branch(repo, remote, base_branch)
        if remote_tip is None:
            raise GitError(f"the remote {remote} has no branch {base_branch}")
        tip = repo.head(f"refs/heads/{branch}")
        if repo.is_merged(tip, remote_tip):
            return remote_tip
        merged = _merge_commit(repo, base_branch, branch, remote_tip, tip, message, add_files)
    push = repo.git(
        "push", "--porcelain", "--quiet", remote, f"{merged}:refs/heads/{base_branch}", check=False
    )
    if not push.ok:
        if "rejected" in push.stdout + push.stderr:
            raise PushRejectedError(f"push of {base_branch} to {remote} rejected")
        raise GitError(f"push of {base_branch} to {remote} failed: {push.stderr.strip()[-300:]}")
    return merged


def _follow(repo: GitRepo, base_branch: str, branch: str, merged: str) -> None:
    """Bring the local base to the remote's merged tip when that is a fast-forward (a base
    with local commits of its own is left for its user)."""
    with repo.lock():
        old = repo.head(f"refs/heads/{base_branch}")
        if old != merged and repo.is_merged(old, merged):
            # A user's checkout in the way keeps the local base; the remote holds the merge.
            with contextlib.suppress(GitError):
                _advance(repo, base_branch, branch, old, merged)


def take_remote_branch(repo: GitRepo, remote: str, branch: str) -> str | None:
    """Bring the local ``branch`` up to the remote's when that is a fast-forward (or the
    branch is missing here); the remote's tip, None if the remote has no such branch.

    A host taking a track over starts from what the previous host pushed. A branch checked
    out in a worktree is moved by the caller (the worktree is rebuilt), not here.
    """
    with repo.lock():
        tip = fetch_branch(repo, remote, branch)
        if tip is None:
            return None
        if not repo.branch_exists(branch):
            repo.git("update-ref", f"refs/heads/{branch}", tip)
            return tip
        old = repo.head(f"refs/heads/{branch}")
        if old != tip and repo.is_merged(old, tip):
            with contextlib.suppress(GitError):
                _advance(repo, branch, branch, old, tip)
        return tip
