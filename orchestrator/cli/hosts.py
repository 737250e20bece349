"""``orch hosts``: the homes whose daemons share this database, and the tracks each holds."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator.cli.context import AppContext, emit_json

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def print_hosts(app_ctx: AppContext, hosts: list[dict[str, Any]], title: str = "Hosts") -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("host", "machine", "pid", "seen", "tracks (lease age)"):
        table.add_column(column)
    for host in hosts:
        leases = ", ".join(
            f"{x['track']} ({x['age_s']:.0f}s{', expired' if x['expired'] else ''})"
            for x in host["tracks"]
        )
        table.add_row(
            host["id"] + (" *" if host["this_home"] else ""),
            host["hostname"],
            "-" if host["pid"] is None else str(host["pid"]),
            f"{host['seen_s']:.0f}s ago",
            leases or "-",
        )
    app_ctx.console.print(table)


def hosts(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the hosts (state homes) working on this database, their tracks and lease ages."""
    app_ctx: AppContext = ctx.obj
    from orchestrator.service.reads import hosts as hosts_read

    summary = hosts_read(app_ctx.store, app_ctx.settings)
    if as_json:
        emit_json(summary)
        return
    if not summary:
        app_ctx.console.print("No host has registered yet (a daemon registers when it starts).")
        return
    print_hosts(app_ctx, summary)
    app_ctx.console.print("* this home", markup=False)


def register(app: typer.Typer) -> None:
    app.command()(hosts)
