"""What every request handler of the dashboard needs, kept on the app's state."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.templating import Jinja2Templates

from orchestrator.config import Settings
from orchestrator.store.contract import Store


@dataclass
class Dashboard:
    """What every request handler needs."""

    settings: Settings
    store: Store
    templates: Jinja2Templates


def dashboard_of(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.dashboard
    return board
