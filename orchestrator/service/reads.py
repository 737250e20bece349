"""The read shapes of ``orch ... --json`` (DESIGN.md), built once for the CLI and the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.models import TrackType
from orchestrator.domain.organization import Proposal, ProposalStatus
from orchestrator.domain.proposal_diff import ProposalDiff, diff_proposal

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.domain.parking import Park
    from orchestrator.store.contract import Store


def wo_status(value: str) -> str:
    try:
        return WOStatus(value).value
    except ValueError:
        names = ", ".join(s.value for s in WOStatus)
        raise ValidationError(f"unknown work order status {value!r}: one of {names}") from None


def track_status(value: str) -> TrackStatus:
    try:
        return TrackStatus(value)
    except ValueError:
        names = ", ".join(s.value for s in TrackStatus)
        raise ValidationError(f"unknown track status {value!r}: one of {names}") from None


def proposal_status(value: str) -> str:
    try:
        return ProposalStatus(value).value
    except ValueError:
        names = ", ".join(s.value for s in ProposalStatus)
        raise ValidationError(f"unknown proposal status {value!r}: one of {names}") from None


def track_subtree(store: Store, track_id: str) -> list[dict[str, Any]]:
    """A track's ``track list`` row followed by its sub-tracks' (tree order)."""
    root = store.get_track(track_id)
    tracks = store.list_tracks(project=root.project_id)
    start = next(i for i, t in enumerate(tracks) if t["id"] == track_id)
    subtree = [tracks[start]]
    for track in tracks[start + 1 :]:
        if track["depth"] <= tracks[start]["depth"]:
            break
        subtree.append(track)
    return subtree


def wo_sections(
    store: Store, track_id: str, status: str | None
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The WOs of a track and of each of its sub-tracks, per track."""
    return [
        (t, store.list_work_orders(track=t["id"], status=status))
        for t in track_subtree(store, track_id)
    ]


def wo_filters(store: Store, project: str | None, status: str | None) -> str | None:
    """Check the filters of a WO list: the project exists, the status is one; the status."""
    if status is not None:
        status = wo_status(status)
    if project is not None:
        store.get_project(project)
    return status


def wo_list(
    store: Store,
    project: str | None = None,
    track: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """``orch wo list --json``: with a track, its sub-tracks' WOs too (each WO once)."""
    status = wo_filters(store, project, status)
    if track is None:
        return store.list_work_orders(project=project, status=status)
    return store.subtree_work_orders(track, status)


def wo_show(store: Store, wo_id: str) -> dict[str, Any]:
    """``orch wo show --json``."""
    row, wo, tracks = store.get_work_order(wo_id)
    return {
        "id": wo.id,
        "project": row.project_id,
        "title": wo.title,
        "goal": wo.goal,
        "status": wo.status.value,
        "priority": wo.priority,
        "tags": list(wo.tags),
        "depends_on": list(wo.depends_on),
        "tracks": tracks,
        "context": list(wo.context),
        "acceptance_criteria": list(wo.acceptance_criteria),
        "non_goals": list(wo.non_goals),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "done_commit": row.done_commit,
        "body": wo.body,
        "extra": wo.extra,
    }


def track_list(
    store: Store,
    project: str | None = None,
    status: str | None = None,
    track_type: str | None = None,
) -> list[dict[str, Any]]:
    """``orch track list --json``."""
    checked = track_status(status).value if status is not None else None
    kind = TrackType.parse(track_type).value if track_type is not None else None
    return store.list_tracks(project=project, status=checked, track_type=kind)


def track_show(store: Store, track_id: str) -> dict[str, Any]:
    """``orch track show --json``."""
    track = store.get_track(track_id)
    wos = store.list_work_orders(track=track_id)
    return {
        "id": track.id,
        "project": track.project_id,
        "name": track.name,
        "goal": track.goal,
        "type": track.type,
        "status": track.status,
        "priority": track.priority,
        "weight": track.weight,
        "parent": track.parent_track_id,
        "branch": track.branch,
        "worktree": track.worktree_path,
        "experiment": track.experiment,
        "hypothesis": track.hypothesis,
        "blocked_reason": track.blocked_reason,
        "merged_commit": track.merged_commit,
        "work_orders": [{"id": w["id"], "title": w["title"], "status": w["status"]} for w in wos],
    }


def status(store: Store, settings: Settings) -> dict[str, Any]:
    """``orch status --json``."""
    from orchestrator.daemon.sandboxing import sandbox_mode
    from orchestrator.domain.experiment import OPEN_EXPERIMENT_STATUSES
    from orchestrator.domain.experiment_view import experiment_line
    from orchestrator.domain.parking import current_parks

    summary = store.status_summary()
    lease = store.current_lease()
    live = store.lease_is_live(lease)
    directive = store.latest_directive()
    open_experiments = store.list_experiments(statuses=OPEN_EXPERIMENT_STATUSES)
    return {
        "daemon": {"running": live, "pid": lease.pid if (lease and live) else None},
        **summary,
        "runs": store.active_runs(),
        "experiments": [experiment_line(e) for e in open_experiments],
        "directive": None
        if directive is None
        else {"weights": directive.weights, "reason": directive.reason},
        "parked": [park_json(p) for p in current_parks(store.latest_parks(), live)],
        "hosts": hosts(store, settings),
        "sandbox": sandbox_mode(settings),
    }


def hosts(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """``orch hosts --json``: every host on this database with its track leases."""
    from datetime import UTC, datetime

    from orchestrator.domain.hosts_view import host_json
    from orchestrator.host_identity import read_host_id

    now = datetime.now(UTC)
    this_host = read_host_id(settings)
    return [host_json(h, now, this_host) for h in store.list_hosts()]


def park_json(park: Park) -> dict[str, Any]:
    return {
        "scope": park.scope.value,
        "subject": park.subject,
        "track": park.track_id,
        "wo": park.wo_id,
        "reason": park.reason,
        "until": park.until.isoformat() if park.until is not None else None,
        "line": park.line(),
    }


def review_list(
    store: Store, project: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """``orch review list --json`` (pending proposals made against an older state go stale)."""
    if project is not None:
        store.get_project(project)
    if status is not None:
        status = proposal_status(status)
    store.refresh_stale(project)
    return [
        {
            "id": r.id,
            "project": r.project_id,
            "mode": r.mode,
            "status": r.status,
            "created_at": r.created_at.isoformat(),
        }
        for r in store.list_proposals(project, status)
    ]


def review_show(
    store: Store, proposal_id: int
) -> tuple[dict[str, Any], Proposal, ProposalDiff | None]:
    """``orch review show --json``, with the proposal and its diff against today (None once
    applied: a diff against today would show nothing, or noise)."""
    row = store.get_proposal(proposal_id)
    store.refresh_stale(row.project_id)
    row = store.get_proposal(proposal_id)
    proposal = Proposal.from_json(row.proposal)
    applied = row.status == ProposalStatus.APPROVED.value
    diff = None if applied else diff_proposal(store.org_state(row.project_id), proposal)
    data: dict[str, Any] = {
        "id": row.id,
        "project": row.project_id,
        "mode": row.mode,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "run_id": row.run_id,
        "trigger": row.proposal.get("trigger"),
        "recommendations": list(proposal.recommendations),
        "tracks": [t.to_json() for t in proposal.tracks],
        "assignments": len(proposal.assignments),
        "diff": diff.to_json() if diff is not None else None,
    }
    return data, proposal, diff


def experiment_list(store: Store, project: str | None = None) -> list[dict[str, Any]]:
    """``orch experiment list --json``."""
    from orchestrator.domain.experiment_view import experiment_line

    if project is not None:
        store.get_project(project)
    return [experiment_line(e) for e in store.list_experiments(project=project)]


def experiment_show(store: Store, experiment_id: str) -> dict[str, Any]:
    """``orch experiment show --json``."""
    from orchestrator.domain.experiment_view import experiment_view

    return experiment_view(store.get_experiment(experiment_id))


def filter_wos(
    rows: list[dict[str, Any]], tag: str | None = None, text: str | None = None
) -> list[dict[str, Any]]:
    """Narrow ``wo list`` rows by a tag and by text in the id or title (case-insensitive)."""
    needle = (text or "").strip().casefold()
    return [
        r
        for r in rows
        if (not tag or tag in r["tags"])
        and (not needle or needle in r["id"].casefold() or needle in r["title"].casefold())
    ]
