"""A track as the store hands it out: a frozen value with its status as an enum."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.domain.lifecycle import TrackStatus


@dataclass(frozen=True)
class Track:
    """A named stream of related WOs with its own branch and worktree (DESIGN.md, words)."""

    id: str
    project_id: str
    name: str
    type: str
    status: TrackStatus
    branch: str
    created_at: datetime
    updated_at: datetime
    goal: str = ""
    priority: int = 3
    weight: float = 1.0
    budget_usd: float | None = None
    parent_track_id: str | None = None
    experiment: str | None = None
    hypothesis: str | None = None
    worktree_path: str | None = None
    scope: tuple[str, ...] = ()
    wo_queue: tuple[str, ...] = ()
    blocked_reason: str | None = None
    merged_commit: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
