"""Thin domain objects: what a project, work order and track are, independent of storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from orchestrator.domain.lifecycle import TrackStatus, WOStatus


class TrackType(StrEnum):
    """Track types of seeds/001 plus the competing-experiment type of seeds/000."""

    ONBOARDING = "onboarding"
    FEATURE = "feature"
    BUGFIX = "bugfix"
    REFACTOR = "refactor"
    MIGRATION = "migration"
    TESTING = "testing"
    DOCUMENTATION = "documentation"
    SECURITY = "security"
    PERFORMANCE = "performance"
    MAINTENANCE = "maintenance"
    LEARNING = "learning"
    EXPLORATION = "exploration"
    CUSTOM = "custom"
    EXPERIMENT = "experiment"

    @classmethod
    def parse(cls, value: str) -> TrackType:
        from orchestrator.domain.errors import ValidationError

        aliases = {"fix": "bugfix", "feat": "feature", "exp": "experiment"}
        key = aliases.get(value.lower(), value.lower())
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise ValidationError(f"unknown track type {value!r}: one of {names}") from None


#: Lowest number = most important, as in the WO files (priority: 1).
DEFAULT_WO_PRIORITY = 3


@dataclass(frozen=True)
class WorkOrder:
    """One unit of work, as in the markdown files of seeds/003."""

    id: str
    title: str
    goal: str = ""
    context: tuple[str, ...] = ()
    acceptance_criteria: tuple[str, ...] = ()
    non_goals: tuple[str, ...] = ()
    priority: int = DEFAULT_WO_PRIORITY
    tags: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    status: WOStatus = WOStatus.BACKLOG
    estimate_hours: float | None = None
    created_at: date | None = None
    updated_at: date | None = None
    body: str = ""
    #: Frontmatter fields we do not model, kept verbatim and written back on export.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkOrderRecord:
    """What the store keeps about a WO beyond its text: where it came from, its attempts,
    its last error and the commit that settled it."""

    id: str
    project_id: str
    status: WOStatus
    source: str = "cli"
    attempts: int = 0
    last_error: str | None = None
    done_commit: str | None = None


@dataclass(frozen=True)
class TrackSummary:
    """What the global agent sees of a track: never its WOs."""

    id: str
    project: str
    name: str
    type: str
    status: TrackStatus
    priority: int
    weight: float
    done: int
    total: int
    blocked_reason: str | None
    cost_usd: float
