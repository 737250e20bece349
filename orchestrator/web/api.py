"""``/api/``: the CLI's ``--json`` shapes (built by ``orchestrator.service``) and its actions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import StreamingResponse

from orchestrator.domain.ids import SLUG_RE, WO_ID_RE, validate_wo_id
from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.models import TrackType
from orchestrator.domain.organization import ProposalStatus
from orchestrator.service import actions, reads
from orchestrator.web.board import dashboard_of
from orchestrator.web.live import events_stream, live_view

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input (one line in `error`)"},
    404: {"description": "No such thing (one line in `error`)"},
}
#: What an action may answer besides: the state forbids it (decided, stale, illegal move).
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The state forbids it (one line in `error`)"}
}
router = APIRouter(prefix="/api", responses=_ERRORS)

Text = Annotated[str | None, Query(max_length=200)]
#: Ids in paths say their form in the schema: a malformed one is a 422 before any lookup.
WOId = Annotated[str, Path(pattern=WO_ID_RE.pattern)]
Slug = Annotated[str, Path(pattern=SLUG_RE.pattern)]
ProposalId = Annotated[int, Path(ge=1, lt=2**63)]


class TrackAction(StrEnum):
    pause = "pause"
    resume = "resume"
    ready = "ready"


#: A dashboard button's move and the reason it journals.
TRACK_MOVES = {
    TrackAction.pause: (TrackStatus.PAUSED, "paused from the dashboard"),
    TrackAction.resume: (TrackStatus.ACTIVE, "resumed from the dashboard"),
    TrackAction.ready: (TrackStatus.READY, "marked ready from the dashboard"),
}


def _value(choice: StrEnum | None) -> str | None:
    return None if choice is None else choice.value


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    """`orch status --json`."""
    board = dashboard_of(request)
    return reads.status(board.store, board.settings)


@router.get("/work-orders")
def work_orders(
    request: Request,
    project: Text = None,
    track: Text = None,
    status: WOStatus | None = None,
    tag: Text = None,
    q: Text = None,
) -> list[dict[str, Any]]:
    """`orch wo list --json` (a track includes its sub-tracks), narrowed by tag and text."""
    store = dashboard_of(request).store
    rows = reads.wo_list(store, project=project, track=track, status=_value(status))
    return reads.filter_wos(rows, tag, q)


@router.get("/work-orders/{wo_id}")
def work_order(request: Request, wo_id: WOId) -> dict[str, Any]:
    """`orch wo show --json`."""
    return reads.wo_show(dashboard_of(request).store, validate_wo_id(wo_id))


@router.get("/tracks")
def tracks(
    request: Request,
    project: Text = None,
    status: TrackStatus | None = None,
    type: TrackType | None = None,
) -> list[dict[str, Any]]:
    """`orch track list --json`."""
    return reads.track_list(dashboard_of(request).store, project, _value(status), _value(type))


@router.get("/tracks/{track_id}")
def track(request: Request, track_id: Slug) -> dict[str, Any]:
    """`orch track show --json`."""
    return reads.track_show(dashboard_of(request).store, track_id)


@router.post("/tracks/{track_id}/{action}", responses=_CONFLICT)
def move_track(request: Request, track_id: Slug, action: TrackAction) -> dict[str, Any]:
    """`orch track pause|resume|ready ID`; answers `orch track show --json`."""
    board = dashboard_of(request)
    target, reason = TRACK_MOVES[action]
    actions.move_track(board.store, board.settings, track_id, target, reason)
    return reads.track_show(board.store, track_id)


@router.get("/proposals")
def proposals(
    request: Request, project: Text = None, status: ProposalStatus | None = None
) -> list[dict[str, Any]]:
    """`orch review list --json`."""
    return reads.review_list(dashboard_of(request).store, project, _value(status))


@router.get("/proposals/{proposal_id}")
def proposal(request: Request, proposal_id: ProposalId) -> dict[str, Any]:
    """`orch review show --json`."""
    return reads.review_show(dashboard_of(request).store, proposal_id)[0]


@router.post("/proposals/{proposal_id}/approve", responses=_CONFLICT)
def approve(request: Request, proposal_id: ProposalId) -> dict[str, Any]:
    """`orch review approve ID`: applied in one transaction."""
    result = actions.approve_proposal(dashboard_of(request).store, proposal_id)
    return {
        "id": proposal_id,
        "status": "approved",
        "created": result.created,
        "edited": result.edited,
        "links": result.links,
    }


@router.post("/proposals/{proposal_id}/reject", responses=_CONFLICT)
def reject(
    request: Request,
    proposal_id: ProposalId,
    reason: Annotated[str, Body(embed=True, max_length=2000)] = "",
) -> dict[str, Any]:
    """`orch review reject ID [--reason R]`."""
    row = actions.reject_proposal(dashboard_of(request).store, proposal_id, reason)
    return {"id": row.id, "status": row.status}


@router.get("/experiments")
def experiments(request: Request, project: Text = None) -> list[dict[str, Any]]:
    """`orch experiment list --json`."""
    return reads.experiment_list(dashboard_of(request).store, project)


@router.get("/experiments/{experiment_id}")
def experiment(request: Request, experiment_id: Slug) -> dict[str, Any]:
    """`orch experiment show --json`."""
    return reads.experiment_show(dashboard_of(request).store, experiment_id)


@router.post("/experiments/{experiment_id}/decide", responses=_CONFLICT)
def decide(
    request: Request,
    experiment_id: Slug,
    winner: Annotated[str | None, Body(embed=True, max_length=200)] = None,
    reason: Annotated[str, Body(embed=True, max_length=2000)] = "",
) -> dict[str, Any]:
    """`orch experiment decide ID [--winner T]`; answers `orch experiment show --json`."""
    board = dashboard_of(request)
    log = structlog.get_logger("orchestrator.web")
    actions.decide_experiment(board.store, board.settings, experiment_id, winner, reason, log)
    return reads.experiment_show(board.store, experiment_id)


@router.get("/live")
def live(request: Request) -> dict[str, Any]:
    """Daemon, active runs with their latest tool calls, cost and time left, parked runs."""
    board = dashboard_of(request)
    return live_view(board.store, board.settings.reports_dir)


@router.get("/events")
def events(
    request: Request,
    after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Journal events newer than `after`, oldest first."""
    return [e.to_json() for e in dashboard_of(request).store.events_after(after, limit)]


@router.get("/events/stream", include_in_schema=False)
async def stream(
    request: Request, after: Annotated[int | None, Query(ge=0, lt=2**63)] = None
) -> StreamingResponse:
    """The journal as Server-Sent Events, from `after` (or Last-Event-ID, or from now)."""
    store = dashboard_of(request).store
    start = after
    if start is None:
        last = request.headers.get("last-event-id", "")
        start = int(last) if last.isdigit() else next((e.id for e in store.recent_events(1)), 0)
        start = min(start, 2**63 - 1)  # SQLite's integers end there
    return StreamingResponse(
        events_stream(store, start, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
