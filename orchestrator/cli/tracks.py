"""``orch track``: create, list, show, move through the lifecycle, assign WOs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator.cli.context import AppContext, emit_json
from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.ids import validate_wo_id
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import TrackType
from orchestrator.domain.wo_rules import printable, text_problems

app = typer.Typer(help="Tracks: streams of related work orders.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TrackArg = Annotated[str, typer.Argument(metavar="ID", help="Track id.")]
ReasonOption = Annotated[str, typer.Option(help="Why (kept in the events journal).")]


@app.command("create")
def create(
    ctx: typer.Context,
    project: Annotated[str, typer.Option(help="Project name.")],
    name: Annotated[str, typer.Option(help="Track name (a slug: a-z, 0-9, '-').")],
    type_: Annotated[
        str, typer.Option("--type", help="feature, bugfix, refactor, experiment, ...")
    ],
    goal: Annotated[str, typer.Option(help="What the track is for.")] = "",
    parent: Annotated[str | None, typer.Option(help="Parent track id (makes a sub-track).")] = None,
    priority: Annotated[int, typer.Option(min=1, max=5, help="1 (highest) to 5.")] = 3,
    experiment: Annotated[
        str | None, typer.Option(help="Experiment group (competing tracks).")
    ] = None,
    hypothesis: Annotated[
        str | None, typer.Option(help="The experiment track's hypothesis.")
    ] = None,
) -> None:
    """Create a track (status draft; `orch track ready` offers it to the daemon)."""
    app_ctx: AppContext = ctx.obj
    track_type = TrackType.parse(type_)
    problems = text_problems("--goal", goal) + text_problems("--hypothesis", hypothesis or "")
    if problems:
        raise ValidationError("; ".join(problems))
    if experiment is not None and track_type is not TrackType.EXPERIMENT:
        raise ValidationError("--experiment is only for tracks of --type experiment")
    row = app_ctx.store.create_track(
        project,
        name,
        track_type.value,
        goal=goal,
        parent=parent,
        priority=priority,
        experiment=experiment,
        hypothesis=hypothesis,
    )
    app_ctx.console.print(f"Created track {row.id} ({row.type}, {row.status}) on {row.branch}")


@app.command("list")
def list_(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    status: Annotated[str | None, typer.Option(help="Only tracks with this status.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only tracks of this type.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List tracks as a tree (sub-tracks under their parent) with progress."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    rows = reads.track_list(app_ctx.store, project=project, status=status, track_type=type_)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("track", "project", "type", "status", "pri", "progress", "branch"):
        table.add_column(column)
    for row in rows:
        progress = f"{row['done_count']}/{row['wo_count']}"
        if row["wo_count"]:
            progress += f" ({100 * row['done_count'] // row['wo_count']}%)"
        table.add_row(
            "  " * row["depth"] + row["id"],
            row["project"],
            row["type"],
            row["status"],
            str(row["priority"]),
            progress,
            row["branch"],
        )
    app_ctx.console.print(table)


@app.command("show")
def show(ctx: typer.Context, track_id: TrackArg, as_json: JsonOption = False) -> None:
    """Show one track and its work orders."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    data = reads.track_show(app_ctx.store, track_id)
    if as_json:
        emit_json(data)
        return
    from rich.markup import escape

    console = app_ctx.console
    console.print(f"[bold]{data['id']}[/bold] {escape(printable(data['goal']))}")
    for key in (
        "project",
        "type",
        "status",
        "priority",
        "weight",
        "parent",
        "branch",
        "worktree",
        "experiment",
        "hypothesis",
        "blocked_reason",
        "merged_commit",
    ):
        if data[key] not in (None, ""):
            console.print(f"  {key}: {printable(str(data[key]))}", markup=False)
    for wo in data["work_orders"]:
        line = f"  - {wo['id']} [{wo['status']}] {wo['title']}"
        console.print(printable(line), markup=False)


def _move(ctx: typer.Context, track_id: str, target: TrackStatus, reason: str) -> None:
    from orchestrator.service.actions import move_track

    app_ctx: AppContext = ctx.obj
    row = move_track(app_ctx.store, app_ctx.settings, track_id, target, reason)
    app_ctx.console.print(f"Track {row.id} is now {row.status}")


@app.command("ready")
def ready(ctx: typer.Context, track_id: TrackArg, reason: ReasonOption = "") -> None:
    """draft -> ready: offer the track to the daemon."""
    _move(ctx, track_id, TrackStatus.READY, reason or "marked ready")


@app.command("activate")
def activate(ctx: typer.Context, track_id: TrackArg, reason: ReasonOption = "") -> None:
    """ready -> active now: creates the track's worktree and branch."""
    _move(ctx, track_id, TrackStatus.ACTIVE, reason or "activated by hand")


@app.command("pause")
def pause(ctx: typer.Context, track_id: TrackArg, reason: ReasonOption = "") -> None:
    """active -> paused: the daemon starts no new work on it."""
    _move(ctx, track_id, TrackStatus.PAUSED, reason or "paused by hand")


@app.command("resume")
def resume(
    ctx: typer.Context,
    track_id: TrackArg,
    reason: ReasonOption = "",
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Retry its failed work orders too (`orch wo retry`)."),
    ] = False,
) -> None:
    """paused -> active (a track blocked by failed work orders needs --retry-failed)."""
    from orchestrator.service.track_moves import resume_track

    app_ctx: AppContext = ctx.obj
    done = resume_track(
        app_ctx.store, track_id, reason or "resumed by hand", retry_failed=retry_failed
    )
    if done.retried:
        app_ctx.console.print(f"Retried {', '.join(done.retried)}", markup=False)
    app_ctx.console.print(f"Track {done.track.id} is now {done.track.status}")


@app.command("complete")
def complete(ctx: typer.Context, track_id: TrackArg, reason: ReasonOption = "") -> None:
    """active -> completed: merges the track branch into the base branch (all WOs done)."""
    from orchestrator.service.track_moves import complete_by_hand

    app_ctx: AppContext = ctx.obj
    log = structlog_logger(track_id)
    row = complete_by_hand(app_ctx.store, track_id, reason or "completed by hand", log)
    app_ctx.console.print(f"Track {row.id} is now completed (merged as {row.merged_commit})")


def structlog_logger(track_id: str) -> Any:
    import structlog

    return structlog.get_logger("orchestrator.cli").bind(track_id=track_id)


@app.command("fail")
def fail(
    ctx: typer.Context,
    track_id: TrackArg,
    reason: Annotated[str, typer.Option(help="Why it is given up (kept in the journal).")],
) -> None:
    """active, ready or paused -> failed: give the track up (branch kept; then `cancel`)."""
    from orchestrator.service.track_moves import fail_track

    app_ctx: AppContext = ctx.obj
    row = fail_track(app_ctx.store, track_id, reason)
    app_ctx.console.print(f"Track {row.id} is now {row.status}")


@app.command("cancel")
def cancel(ctx: typer.Context, track_id: TrackArg, reason: ReasonOption = "") -> None:
    """draft, paused or failed -> cancelled (the branch is kept)."""
    _move(ctx, track_id, TrackStatus.CANCELLED, reason or "cancelled by hand")


@app.command("archive")
def archive(ctx: typer.Context, track_id: TrackArg, reason: ReasonOption = "") -> None:
    """completed -> archived: removes the worktree, keeps the branch."""
    _move(ctx, track_id, TrackStatus.ARCHIVED, reason or "archived by hand")


@app.command("assign")
def assign(
    ctx: typer.Context,
    track_id: TrackArg,
    wo_ids: Annotated[list[str], typer.Argument(metavar="WO-ID...", help="Work order ids.")],
) -> None:
    """Add work orders to a track (a WO may belong to several tracks)."""
    app_ctx: AppContext = ctx.obj
    changed = app_ctx.store.assign(track_id, [validate_wo_id(w) for w in wo_ids])
    app_ctx.console.print(f"Assigned {changed} work orders to {track_id}")


@app.command("unassign")
def unassign(
    ctx: typer.Context,
    track_id: TrackArg,
    wo_ids: Annotated[list[str], typer.Argument(metavar="WO-ID...", help="Work order ids.")],
) -> None:
    """Remove work orders from a track."""
    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    ids = [validate_wo_id(w) for w in wo_ids]
    store.get_track(track_id)
    unknown = sorted(set(ids) - store.wo_ids())
    if unknown:
        raise NotFoundError(f"unknown work order {', '.join(unknown)}")
    assigned = {w["id"] for w in store.list_work_orders(track=track_id)}
    missing = [w for w in ids if w not in assigned]
    if missing:
        # Removing what is not there would report "0 unassigned" and exit 0: a silent zero.
        raise ValidationError(f"not assigned to track {track_id}: {', '.join(missing)}")
    changed = store.assign(track_id, ids, assign=False)
    app_ctx.console.print(f"Unassigned {changed} work orders from {track_id}")
