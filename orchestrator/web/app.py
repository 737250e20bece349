"""The dashboard app: one store, the token guard, the API and the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from orchestrator.config import Settings
from orchestrator.domain.errors import NotFoundError, OrchestratorError, UserInputError
from orchestrator.store.contract import Store
from orchestrator.store.sqlite_store import open_store
from orchestrator.web import api, pages
from orchestrator.web.board import Dashboard
from orchestrator.web.security import TokenGuard


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("orchestrator.web", "templates"),
        autoescape=True,  # WO text is data: every value is escaped unless marked safe
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env)


def _status_code(exc: OrchestratorError, method: str) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UserInputError):
        # An action's input is checked by its schema (422) first; what an action refuses
        # after that is a clash with the state: decided already, stale, an illegal move.
        return 409 if method == "POST" else 400
    return 500


def create_app(settings: Settings, token: str, store: Store | None = None) -> FastAPI:
    """The app over ``settings``' home; it opens (and closes) its own store unless given one."""
    own = store is None
    board = Dashboard(settings, store or open_store(settings.store_url), _templates())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own:
            board.store.close()

    app = FastAPI(
        title="orch dashboard",
        description="The orchestrator's state: the same shapes as `orch ... --json`.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.dashboard = board
    app.add_middleware(TokenGuard, token=token)
    app.mount("/static", StaticFiles(directory=str(files("orchestrator.web") / "static")), "static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(OrchestratorError)
    async def _error(request: Request, exc: OrchestratorError) -> Response:
        status = _status_code(exc, request.method)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=status)
        context: dict[str, Any] = {"message": str(exc), "page": "", "notice": None, "error": None}
        return board.templates.TemplateResponse(request, "error.html", context, status)

    return app
