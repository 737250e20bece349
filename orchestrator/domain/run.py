"""Thin domain objects for agent runs and what a run report reads about WOs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.domain.lifecycle import RunStatus, WOStatus


@dataclass(frozen=True)
class Run:
    """One agent session (any role): who ran it for what, how it ended, what it cost."""

    id: str
    role: str
    status: RunStatus
    started_at: datetime
    project_id: str | None = None
    track_id: str | None = None
    wo_id: str | None = None
    attempt: int = 1
    session_id: str | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    resumed_from: str | None = None
    error: str | None = None
    summary: str | None = None
    ended_at: datetime | None = None
    #: The daemon (lease holder) that started the run, and the CLI process it spawned.
    daemon_id: str | None = None
    cli_pid: int | None = None


@dataclass(frozen=True)
class WorkOrderOutcome:
    """A WO as the run report names it: title, status and its last error."""

    id: str
    title: str
    status: WOStatus
    last_error: str | None = None
