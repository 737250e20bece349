"""Top-level commands about the state home: init and status."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.context import AppContext, emit_json, make_directory
from orchestrator.config import render_default_config
from orchestrator.domain.redaction import mask_url_password

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def init(
    ctx: typer.Context,
    host_id: Annotated[
        str | None,
        typer.Option(
            "--host-id",
            help="This home's name among the homes sharing a database (default: the "
            "machine's name and a digest of the home's path). Fixed once made.",
        ),
    ] = None,
) -> None:
    """Create (or upgrade) the state home: config/orchestrator.toml, workspaces/, state/."""
    from orchestrator.domain.hosts import validate_host_id
    from orchestrator.host_identity import ensure_host_id, read_host_id

    app_ctx: AppContext = ctx.obj
    home = app_ctx.home
    # Settings first: a bad ORCH_* variable or config file is refused before anything is written.
    settings = app_ctx.settings
    if host_id is not None:
        validate_host_id(host_id)
        current = read_host_id(settings)
        if current is not None and current != host_id:
            ensure_host_id(settings, host_id)  # refuses with one line: ids are fixed
    make_directory(home, "state home")
    config_path = home / "config" / "orchestrator.toml"
    make_directory(config_path.parent, "config directory")
    if not config_path.exists():
        tmp = config_path.with_suffix(".toml.tmp")
        tmp.write_text(render_default_config(), encoding="utf-8")
        tmp.replace(config_path)
    make_directory(settings.workspaces_dir, "workspaces directory")
    gitignore = settings.workspaces_dir / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    make_directory(settings.logs_dir, "log directory")
    make_directory(settings.reports_dir, "reports directory")
    from orchestrator.store.sqlite_store import open_store

    store = open_store(settings.store_url)
    revision = store.schema_revision()
    store.close()
    # Without --host-id the id is made on the daemon's first start, from the home's own
    # path: a copied home then gets an id of its own.
    named = f", host {ensure_host_id(settings, host_id)}" if host_id is not None else ""
    app_ctx.console.print(
        f"Initialized orchestrator home {home} (schema {revision}{named})", markup=False
    )


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Daemon state and counts by status, per project and per track."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    summary = reads.status(store, app_ctx.settings)
    if as_json:
        emit_json(summary)
        return
    from rich.table import Table

    console = app_ctx.console
    daemon = summary["daemon"]
    console.print(
        f"daemon: {'running (pid ' + str(daemon['pid']) + ')' if daemon['running'] else 'stopped'}"
    )
    console.print(f"worker sandbox: {summary['sandbox']}", markup=False)
    # The URL may carry a password: shown masked, never as given.
    console.print(f"store: {mask_url_password(app_ctx.settings.store_url)}", markup=False)
    table = Table(title="Projects")
    for column in ("project", "tracks", "work orders"):
        table.add_column(column)
    for project in summary["projects"]:
        table.add_row(project["id"], _counts(project["tracks"]), _counts(project["work_orders"]))
    console.print(table)
    tracks = store.list_tracks()
    if tracks:
        track_table = Table(title="Tracks")
        for column in ("track", "project", "status", "weight", "done/total"):
            track_table.add_column(column)
        for track in tracks:
            track_table.add_row(
                "  " * track["depth"] + track["id"],
                track["project"],
                track["status"],
                f"{track['weight']:g}",
                f"{track['done_count']}/{track['wo_count']}",
            )
        console.print(track_table)
    if summary["runs"]:
        console.print(f"active runs: {len(summary['runs'])}")
    for exp in summary["experiments"]:
        console.print(
            f"experiment {exp['id']} ({exp['project']}): {exp['status']}, "
            f"{exp['settled']}/{exp['variants']} variants evaluated"
            + (f", winner {exp['winner']}" if exp["winner"] else ""),
            markup=False,
        )
    if summary["directive"] is not None:
        console.print(f"global directive: {summary['directive']['reason']}")
    for park in summary["parked"]:
        console.print(park["line"], markup=False)
    if summary["hosts"]:
        from orchestrator.cli.hosts import print_hosts

        print_hosts(app_ctx, summary["hosts"])


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(status)
