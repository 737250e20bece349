"""``orch wo``: work orders — add, import, list, show, export, retry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.context import AppContext, emit_json, make_directory
from orchestrator.cli.params import non_empty_path
from orchestrator.domain.errors import UserInputError, ValidationError
from orchestrator.domain.ids import validate_slug, validate_wo_id
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_rules import printable, validate_work_order

app = typer.Typer(help="Work orders: add, import, list, show, export, retry.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _project(app_ctx: AppContext, project: str | None) -> str:
    if project is not None:
        return app_ctx.store.get_project(project).id
    return app_ctx.store.only_project().id


@app.command("add")
def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="One-line title.")],
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
    goal: Annotated[str, typer.Option(help="What done looks like.")] = "",
    priority: Annotated[int, typer.Option(min=1, max=5, help="1 (highest) to 5.")] = 3,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable).")] = None,
    depends_on: Annotated[list[str] | None, typer.Option(help="A WO id (repeatable).")] = None,
) -> None:
    """Add one work order."""
    app_ctx: AppContext = ctx.obj
    if not title.strip():
        raise ValidationError("a work order needs a non-empty --title")
    tags = tuple(validate_slug(t, "tag") for t in (tag or []))
    deps = tuple(validate_wo_id(d) for d in (depends_on or []))
    wo = WorkOrder(
        id="", title=title.strip(), goal=goal, priority=priority, tags=tags, depends_on=deps
    )
    validate_work_order(wo)  # the rules of an imported file and of the project agent
    created = app_ctx.store.add_work_order(_project(app_ctx, project), wo, source="cli")
    app_ctx.console.print(f"Added {created.id}: {printable(created.title)}", markup=False)


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(parser=non_empty_path, help="WO files or directories of them."),
    ],
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
) -> None:
    """Import work orders from markdown files with YAML frontmatter (all or nothing)."""
    from orchestrator.backlog import import_files

    app_ctx: AppContext = ctx.obj
    result = import_files(app_ctx.store, _project(app_ctx, project), paths)
    app_ctx.console.print(
        f"Imported {result.files} files: {result.created} new, {result.updated} updated"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    track: Annotated[str | None, typer.Option(help="Only WOs of this track.")] = None,
    status: Annotated[str | None, typer.Option(help="Only WOs with this status.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List work orders (by priority, then id)."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    if track is not None and not as_json:
        _print_track_tree(app_ctx, track, reads.wo_filters(app_ctx.store, project, status))
        return
    rows = reads.wo_list(app_ctx.store, project=project, track=track, status=status)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in ("id", "status", "pri", "title", "tracks", "depends on"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["status"],
            str(row["priority"]),
            Text(printable(row["title"])),  # WO text is data: no markup, no escape codes
            ", ".join(row["tracks"]) or "-",
            ", ".join(row["depends_on"]) or "-",
        )
    app_ctx.console.print(table)
    app_ctx.console.print(f"{len(rows)} work orders")


def _print_track_tree(app_ctx: AppContext, track_id: str, status: str | None) -> None:
    """The WOs of a track and of its sub-tracks, under their track's line (with progress)."""
    from orchestrator.service import reads

    sections = reads.wo_sections(app_ctx.store, track_id, status)
    unique = {r["id"] for _, rows in sections for r in rows}
    console = app_ctx.console
    top_depth = sections[0][0]["depth"]
    for track, rows in sections:
        indent = "  " * (track["depth"] - top_depth)
        total, done = track["wo_count"], track["done_count"]
        progress = f"{done}/{total} done" + (f" ({100 * done // total}%)" if total else "")
        console.print(f"{indent}{track['id']}  [{track['status']}]  {progress}", markup=False)
        for row in rows:
            console.print(
                f"{indent}  {row['id']}  {row['status']:<9} P{row['priority']}  "
                + printable(row["title"]),
                markup=False,
                soft_wrap=True,
            )
    console.print(f"{len(unique)} work orders in {len(sections)} tracks")


@app.command("show")
def show(
    ctx: typer.Context,
    wo_id: Annotated[str, typer.Argument(metavar="ID", help="Work order id.")],
    as_json: JsonOption = False,
) -> None:
    """Show one work order."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    data = reads.wo_show(app_ctx.store, validate_wo_id(wo_id))
    if as_json:
        emit_json(data)
        return
    from rich.markup import escape

    console = app_ctx.console
    console.print(f"[bold]{data['id']}[/bold] {escape(printable(data['title']))}", markup=True)
    for key in (
        "project",
        "status",
        "priority",
        "tags",
        "depends_on",
        "tracks",
        "goal",
        "acceptance_criteria",
        "attempts",
        "last_error",
        "done_commit",
    ):
        value = data[key]
        if value in (None, "", []):
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        console.print(f"  {key}: {printable(shown)}", markup=False)
    if data["body"].strip():
        console.print(printable(data["body"].rstrip()), markup=False)


@app.command("export")
def export(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", parser=non_empty_path, help="Directory to write into."),
    ],
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
) -> None:
    """Write every work order as a markdown file (re-importable)."""
    from orchestrator.backlog import export_files

    app_ctx: AppContext = ctx.obj
    if project is not None:
        app_ctx.store.get_project(project)
    make_directory(directory, "export directory")
    try:
        written = export_files(app_ctx.store, directory, project)
    except OSError as exc:
        raise UserInputError(f"cannot write into {directory}: {exc.strerror}") from None
    app_ctx.console.print(f"Exported {len(written)} work orders to {directory}")


@app.command("retry")
def retry(
    ctx: typer.Context,
    wo_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Work order ids.")
    ] = None,
    track: Annotated[
        str | None, typer.Option(help="Every failed or blocked WO of this track.")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed WO.")] = False,
    project: Annotated[str | None, typer.Option(help="With --failed: only this project.")] = None,
) -> None:
    """Put failed (or blocked) work orders back to ready with a fresh attempt budget.

    The last failure goes to the worker; before the WO starts again, its track branch takes
    the base branch's new commits. Tracks the daemon blocked on these WOs become active.
    """
    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    chosen = [bool(wo_ids), track is not None, failed]
    if sum(chosen) != 1:
        raise ValidationError("give work order ids, --track T or --failed (one of them)")
    if project is not None and not failed:
        raise ValidationError("--project goes with --failed")
    if wo_ids:
        ids = [validate_wo_id(w) for w in wo_ids]
    elif track is not None:
        ids = store.retryable_work_orders(track=track)
    else:
        if project is not None:
            store.get_project(project)
        ids = store.retryable_work_orders(project=project, statuses=frozenset({WOStatus.FAILED}))
    console = app_ctx.console
    if not ids:
        console.print("No failed or blocked work orders to retry.")
        return
    result = store.retry_work_orders(ids, reason="retried by hand")
    console.print(
        f"Retried {len(result.retried)} work orders: {', '.join(result.retried)} "
        "(fresh attempts; the last failure goes to the worker)",
        markup=False,
        soft_wrap=True,
    )
    for track_id in result.resumed_tracks:
        console.print(f"Track {track_id} is active again", markup=False)
    for wo_id in result.without_active_track:
        console.print(
            f"Note: {wo_id} is in no active track yet (`orch track resume` or `orch track "
            "assign` one)",
            markup=False,
        )
