"""The HTML pages (Jinja2, autoescaped) and their POST actions, which redirect back."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from orchestrator.domain.errors import NotFoundError, OrchestratorError
from orchestrator.domain.ids import validate_wo_id
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.service import actions, reads
from orchestrator.service.review_text import review_lines
from orchestrator.web.api import TRACK_MOVES, TrackAction
from orchestrator.web.board import dashboard_of
from orchestrator.web.live import live_view, run_reports
from orchestrator.web.techtree import tech_tree
from orchestrator.web.transcript import excerpt

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Text = Annotated[str | None, Query(max_length=200)]
#: Rows the WO list shows at most (the count says how many matched).
WO_PAGE_ROWS = 1000


def _page(request: Request, name: str, page: str, **context: Any) -> Response:
    context.setdefault("notice", request.query_params.get("notice"))
    context.setdefault("error", request.query_params.get("error"))
    return dashboard_of(request).templates.TemplateResponse(
        request, name, {"page": page, **context}
    )


def _back(path: str, *, notice: str | None = None, error: str | None = None) -> Response:
    key, value = ("error", error) if error is not None else ("notice", notice or "")
    return RedirectResponse(f"{path}?{key}={quote(value)}", status_code=303)


@router.get("/")
def home() -> Response:
    return RedirectResponse("/tree", status_code=303)


@router.get("/tree")
def tree(request: Request, project: Text = None) -> Response:
    store = dashboard_of(request).store
    projects = [p.id for p in store.list_projects()]
    chosen = project or (projects[0] if projects else None)
    svg, lanes = "", 0
    if chosen is not None:
        store.get_project(chosen)
        tracks = store.list_tracks(project=chosen)
        svg, layout = tech_tree(tracks, store.list_work_orders(project=chosen))
        lanes = sum(1 for lane in layout.lanes if lane.kind == "track")
    return _page(
        request, "tree.html", "tree", projects=projects, project=chosen, svg=svg, lanes=lanes
    )


@router.get("/wos")
def work_orders(
    request: Request,
    project: Text = None,
    track: Text = None,
    status: Text = None,
    tag: Text = None,
    q: Text = None,
) -> Response:
    store = dashboard_of(request).store
    project, track, status = project or None, track or None, status or None
    rows = reads.filter_wos(reads.wo_list(store, project, track, status), tag or None, q)
    return _page(
        request,
        "wos.html",
        "wos",
        rows=rows[:WO_PAGE_ROWS],
        total=len(rows),
        tracks=store.list_tracks(project=project),
        projects=[p.id for p in store.list_projects()],
        statuses=[s.value for s in WOStatus],
        filters={"project": project, "track": track, "status": status, "tag": tag, "q": q},
    )


@router.get("/wo/{wo_id}")
def work_order(request: Request, wo_id: str) -> Response:
    store = dashboard_of(request).store
    data = reads.wo_show(store, validate_wo_id(wo_id))
    runs = store.runs_of_wo(data["id"])
    with_session = [r for r in runs if r.session_id]
    lines = (
        excerpt(store.session_entries(with_session[-1].session_id or "")) if with_session else []
    )
    return _page(
        request,
        "wo.html",
        "wos",
        wo=data,
        runs=runs,
        cost=sum(r.cost_usd for r in runs),
        transcript=lines,
    )


@router.get("/tracks")
def tracks(request: Request) -> Response:
    store = dashboard_of(request).store
    rows = store.list_tracks()
    budgets = {t["id"]: store.get_track(t["id"]).budget_usd for t in rows}
    return _page(request, "tracks.html", "tracks", tracks=rows, budgets=budgets)


@router.post("/tracks/{track_id}/{action}")
def move_track(request: Request, track_id: str, action: TrackAction) -> Response:
    board = dashboard_of(request)
    target, reason = TRACK_MOVES[action]
    try:
        row = actions.move_track(board.store, board.settings, track_id, target, reason)
    except OrchestratorError as exc:
        return _back("/tracks", error=str(exc))
    return _back("/tracks", notice=f"Track {row.id} is now {row.status}")


@router.get("/review")
def review_list(request: Request) -> Response:
    rows = reads.review_list(dashboard_of(request).store)
    return _page(request, "review_list.html", "review", proposals=rows)


@router.get("/review/{proposal_id}")
def review(request: Request, proposal_id: int) -> Response:
    data, proposal, diff = reads.review_show(dashboard_of(request).store, proposal_id)
    lines = review_lines(data, proposal, diff)
    return _page(request, "review.html", "review", proposal=data, lines=lines)


@router.post("/review/{proposal_id}/approve")
def approve(request: Request, proposal_id: int) -> Response:
    path = f"/review/{proposal_id}"
    try:
        result = actions.approve_proposal(dashboard_of(request).store, proposal_id)
    except OrchestratorError as exc:
        return _back(path, error=str(exc))
    created = ", ".join(result.created.values()) or "none"
    return _back(path, notice=f"Approved: tracks created: {created}; {result.links} WOs placed")


@router.post("/review/{proposal_id}/reject")
def reject(
    request: Request, proposal_id: int, reason: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    path = f"/review/{proposal_id}"
    try:
        actions.reject_proposal(dashboard_of(request).store, proposal_id, reason)
    except OrchestratorError as exc:
        return _back(path, error=str(exc))
    return _back(path, notice="Rejected; kept for the record")


@router.get("/experiments")
def experiments(request: Request) -> Response:
    store = dashboard_of(request).store
    views = [reads.experiment_show(store, e["id"]) for e in reads.experiment_list(store)]
    return _page(request, "experiments.html", "experiments", experiments=views)


@router.post("/experiments/{experiment_id}/decide")
def decide(
    request: Request,
    experiment_id: str,
    winner: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    board = dashboard_of(request)
    log = structlog.get_logger("orchestrator.web")
    try:
        decision = actions.decide_experiment(
            board.store, board.settings, experiment_id, winner or None, reason, log
        )
    except OrchestratorError as exc:
        return _back("/experiments", error=str(exc))
    how = "merged" if decision.landed is not None else "the running daemon merges it"
    return _back("/experiments", notice=f"Decided: {decision.winner} wins ({how})")


@router.get("/live")
def live(request: Request) -> Response:
    board = dashboard_of(request)
    view = live_view(board.store, board.settings.reports_dir)
    events = [e.to_json() for e in board.store.recent_events(30)]
    return _page(request, "live.html", "live", live=view, events=events)


@router.get("/reports/{name}")
def report(request: Request, name: str) -> Response:
    board = dashboard_of(request)
    # Only a name the listing shows: no path reaches beyond the reports folder.
    if name not in {r["name"] for r in run_reports(board.settings.reports_dir)}:
        raise NotFoundError(f"no run report {name!r}")
    text = (board.settings.reports_dir / name).read_text(encoding="utf-8", errors="replace")
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8")
