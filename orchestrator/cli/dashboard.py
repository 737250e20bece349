"""``orch dashboard``: the web dashboard over the state home (no daemon needed).

FastAPI, uvicorn and Jinja2 are imported inside the command only: the read commands stay light.
"""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.context import AppContext

HostOption = Annotated[
    str, typer.Option(help="Address to bind; beyond loopback only with --token.")
]
TokenOption = Annotated[
    str | None,
    typer.Option(help="The access token (default: a new random one, printed at start)."),
]


def dashboard(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
    token: TokenOption = None,
) -> None:
    """Serve the dashboard: tech tree, work orders, tracks, review, experiments, live."""
    from orchestrator.web.security import check_bind

    app_ctx: AppContext = ctx.obj
    check_bind(host, token)  # refused before anything is opened
    app_ctx.require_initialized()
    from orchestrator.web.serve import serve

    def announce(url: str) -> None:
        print(f"Dashboard: {url}", flush=True)

    serve(app_ctx.settings, host, port, token, announce)


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
