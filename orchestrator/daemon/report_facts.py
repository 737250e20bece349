"""What the morning after needs from a run: what was interrupted, what waits for a human
(blocked tracks, pending proposals, WOs without a track), and what was merged. (Parked work
is listed from the parking journal, ``store.parks_since``.)

Read from the DB at the end of a run; rendered as sections of the run report, and used for
``orch run``'s exit status (failed WOs or tracks blocked during the run: 3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.domain.lifecycle import RunStatus, TrackStatus, WOStatus
from orchestrator.domain.run import Run
from orchestrator.store.contract import Store

#: WO statuses that still need a track to be carried out.
_WAITING_WO_STATUSES = (
    WOStatus.BACKLOG.value,
    WOStatus.READY.value,
    WOStatus.FAILED.value,
    WOStatus.BLOCKED.value,
)


def morning_facts(store: Store, since: datetime) -> dict[str, list[dict[str, Any]]]:
    """The report's lists (each a list of small dicts; empty lists when nothing applies)."""
    runs = store.runs_since(since, of_work_orders=True)
    wo_status = store.wo_statuses()
    tracks = store.tracks()
    paused_now = {
        e.subject_id
        for e in store.status_moves_since(since, "track_status", TrackStatus.PAUSED.value)
    }
    pending = store.list_proposals(status="pending")
    unplaced = [
        {"id": row["id"], "title": row["title"], "status": row["status"]}
        for row in store.list_work_orders()
        if not row["tracks"] and row["status"] in _WAITING_WO_STATUSES
    ]
    return {
        "interrupted": _unsettled(runs, wo_status, RunStatus.INTERRUPTED),
        "blocked_tracks": [
            {"id": t.id, "reason": t.blocked_reason or ""}
            for t in tracks
            if t.id in paused_now and t.status is TrackStatus.PAUSED and t.blocked_reason
        ],
        "pending_proposals": [
            {
                "id": p.id,
                "project": p.project_id,
                "mode": p.mode,
                "created_at": p.created_at.isoformat(),
            }
            for p in pending
        ],
        "without_track": unplaced,
        "merges": [
            {"track": t.id, "commit": t.merged_commit}
            for t in tracks
            if t.merged_commit and t.completed_at is not None and t.completed_at >= since
        ],
    }


def _unsettled(
    runs: list[Run], wo_status: dict[str, WOStatus], status: RunStatus
) -> list[dict[str, Any]]:
    """The last run of each WO that ended with ``status`` and is not done since."""
    last: dict[str, Run] = {}
    for run in runs:
        if run.wo_id is not None:
            last[run.wo_id] = run
    return [
        {"wo": wo, "track": run.track_id, "run": run.id, "reason": (run.error or "")[:300]}
        for wo, run in last.items()
        if run.status is status and wo_status.get(wo) is not WOStatus.DONE
    ]


def facts_lines(facts: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown sections for the facts that apply (none for an empty list)."""
    lines: list[str] = []

    def section(title: str, entries: list[str]) -> None:
        if entries:
            lines.extend(["", f"## {title}", "", *entries])

    section(
        "Interrupted work orders (resume with `orch run` or `orch recover`)",
        [
            f"- {i['wo']} ({i['track']}, run {i['run']}): {i['reason']}"
            for i in facts["interrupted"]
        ],
    )
    section(
        "Proposals waiting for review (`orch review show ID`)",
        [
            f"- proposal {p['id']} ({p['project']}, {p['mode']}, {p['created_at'][:19]})"
            for p in facts["pending_proposals"]
        ],
    )
    section(
        "Work orders without a track (`orch organize` or `orch track assign`)",
        [f"- {w['id']} [{w['status']}]: {w['title']}" for w in facts["without_track"]],
    )
    section(
        "Merged into the base branch",
        [f"- {m['track']}: merge commit {m['commit']}" for m in facts["merges"]],
    )
    return lines


#: ``orch run``'s exit status when WOs failed or tracks were blocked during the run.
EXIT_NEEDS_ATTENTION = 3


def run_exit_status(summary: dict[str, Any]) -> tuple[int, str]:
    """(exit status, what needs a human) for a finished run's summary: 0 and "" when every
    WO it started is done (or back in line), 3 with the failed WOs and blocked tracks named
    (or the park of a run whose backend could not work)."""
    parts = []
    if str(summary.get("stop_reason", "")).startswith("parked"):
        # The backend could not work (no login, unreachable): nothing it was to start ran.
        parts.append("run parked, see `orch status`")
    failed = sorted(summary.get("failures", {}))
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    blocked = [t["id"] for t in summary.get("blocked_tracks", [])]
    if blocked:
        parts.append(f"blocked tracks: {', '.join(blocked)}")
    return (EXIT_NEEDS_ATTENTION, "; ".join(parts)) if parts else (0, "")
