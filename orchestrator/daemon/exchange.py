"""Publishing a track's work to its project's shared remote, and merging through it.

After every checkpoint (each WO start, each WO commit, each interruption) the track branch
and the checkpoint's ref are pushed, so a host that takes the track over finds the work on
the remote. A push that fails (the remote unreachable for a while) is logged and left to the
next checkpoint, which pushes the branch again with everything since.

Merges into the base branch of a project with a remote go through the remote, one host at a
time (the database's ``merge:<project>`` lock), fetched first and pushed without force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from orchestrator.domain.errors import GitError
from orchestrator.git.remote import merge_into_remote, push_refs, take_remote_branch
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store

_log = structlog.get_logger(__name__)

#: A merge lock outlives a holder killed mid-merge by this long at most.
MERGE_LOCK_TTL_S = 300.0
#: How long a merge waits for another host's merge of the same project.
MERGE_LOCK_WAIT_S = 600.0


def publish(store: Store, repo: GitRepo, track_id: str, refs: Sequence[str] = ()) -> bool:
    """Push ``track_id``'s branch (and ``refs``) to its project's remote, if it has one.

    True when pushed (or nothing to push to); False when the push failed (logged).
    """
    if not track_id:
        return True  # a checkpoint of no track (none is written today): nothing to push
    track = store.get_track(track_id)
    project = store.get_project(track.project_id)
    if not project.remote:
        return True
    try:
        push_refs(repo, project.remote, [f"refs/heads/{track.branch}", *refs])
    except GitError as exc:
        _log.warning("push_failed", track_id=track_id, remote=project.remote, error=str(exc))
        return False
    return True


def merge_base(
    store: Store,
    repo: GitRepo,
    project_id: str,
    base: str,
    branch: str,
    message: str,
    add_files: Mapping[str, str] | None = None,
) -> str:
    """Merge ``branch`` into ``base``: through the project's remote when it has one (under
    the database's merge lock), else locally as before. The base's new tip."""
    project = store.get_project(project_id)
    if not project.remote:
        return repo.merge_no_ff(base, branch, message, add_files)
    holder = store.here[0] if store.here is not None else str(repo.path)
    with store.holding(f"merge:{project_id}", holder, MERGE_LOCK_TTL_S, MERGE_LOCK_WAIT_S):
        return merge_into_remote(repo, project.remote, base, branch, message, add_files)


def bring_up_to_date(store: Store, repo: GitRepo, project_id: str, branches: Sequence[str]) -> None:
    """Before a merge decided from the database (an experiment's landing): the local
    ``branches`` fast-forwarded to the remote's (created when only the remote has them: a
    variant another host worked). Nothing for a project without a remote."""
    remote = store.get_project(project_id).remote
    if remote:
        for branch in branches:
            take_remote_branch(repo, remote, branch)
