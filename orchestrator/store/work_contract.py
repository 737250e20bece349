"""The work part of the store contract: projects, work orders, tracks and their membership,
and retries. ``SQLiteStore`` implements it (``projects``, ``work_orders``, ``tracks``,
``retries``, ``report_queries``).

The rules of the whole store hold (``store.contract``): one transaction per call with its
journal entries, lifecycle moves through ``domain.lifecycle``, unknown ids raise
``NotFoundError``, bad values ``ValidationError``, database failures ``StoreError``; a call
that raises changed nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.models import WorkOrder, WorkOrderRecord
from orchestrator.domain.project import Project
from orchestrator.domain.run import WorkOrderOutcome
from orchestrator.domain.track import Track
from orchestrator.store.retries import RETRYABLE_WO_STATUSES, RetryResult


@runtime_checkable
class ProjectStore(Protocol):
    #: (this home's host id, its clones directory) once :meth:`place_here` was called.
    here: tuple[str, Path] | None

    def place_here(self, host_id: str, clones_dir: Path) -> None:
        """Serve the host ``host_id``: a project with a remote that another host added then
        comes with ``clones_dir/<project>`` as its path (this host's checkout)."""
        ...

    def add_project(
        self,
        project_id: str,
        path: str,
        base_branch: str,
        check_command: str,
        *,
        remote: str = "",
        host_id: str | None = None,
    ) -> Project:
        """Register a repository (with the shared ``remote`` its hosts exchange work
        through, added by ``host_id``); a taken id is a ``ValidationError``."""
        ...

    def get_project(self, project_id: str) -> Project:
        """The project (its path this host's checkout), or ``NotFoundError``."""
        ...

    def list_projects(self) -> list[Project]:
        """Every project, by id."""
        ...

    def only_project(self) -> Project:
        """The single project of this home (for commands where --project may be left out);
        ``ValidationError`` when there are none or several."""
        ...


@runtime_checkable
class WorkOrderStore(Protocol):
    def wo_ids(self) -> set[str]:
        """Every WO id."""
        ...

    def wo_dependencies(self) -> dict[str, tuple[str, ...]]:
        """Every WO's ``depends_on``, by id (for validating an import batch)."""
        ...

    def get_work_order(self, wo_id: str) -> tuple[WorkOrderRecord, WorkOrder, list[str]]:
        """What is kept about it, the WO itself, and the ids of the tracks it belongs to."""
        ...

    def list_work_orders(
        self, project: str | None = None, track: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows for ``wo list`` (keys as documented in DESIGN.md), by priority then id."""
        ...

    def export_work_orders(self, project: str | None = None) -> list[WorkOrder]:
        """Every WO (of ``project``) as a domain object, for ``wo export``."""
        ...

    def wo_counts(self, project: str | None = None) -> dict[str, int]:
        """WOs per status (of ``project``)."""
        ...

    def wo_statuses(self) -> dict[str, WOStatus]:
        """Every WO's status, by id."""
        ...

    def wo_outcomes(self, wo_ids: Collection[str]) -> dict[str, WorkOrderOutcome]:
        """Title, status and last error of the named WOs (unknown ids are left out)."""
        ...

    def add_work_order(
        self, project: str, wo: WorkOrder, source: str = "cli", run_id: str | None = None
    ) -> WorkOrder:
        """Insert one new WO; an empty ``wo.id`` gets the next free id of this year.
        Journal: ``wo_created``."""
        ...

    def upsert_work_orders(self, project: str, batch: Sequence[WorkOrder]) -> tuple[int, int]:
        """Insert or update a validated import batch in one transaction: (created, updated)."""
        ...

    def set_wo_status(
        self,
        wo_id: str,
        target: WOStatus,
        *,
        reason: str = "",
        run_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Move a WO through its lifecycle (an illegal move is ``IllegalTransitionError``);
        ``fields`` are set on the row too. Journal: ``wo_status``."""
        ...

    def retryable_work_orders(
        self,
        *,
        track: str | None = None,
        project: str | None = None,
        statuses: frozenset[WOStatus] = RETRYABLE_WO_STATUSES,
    ) -> list[str]:
        """Ids of the WOs a retry would take (of ``track`` or ``project`` when given)."""
        ...

    def retry_work_orders(self, wo_ids: Sequence[str], reason: str = "retried") -> RetryResult:
        """Put ``wo_ids`` back to ready with a fresh attempt budget, all or none: refuses
        (``ValidationError``) a WO that is not failed or blocked, or one an open experiment
        holds. Tracks the daemon blocked for them become active again."""
        ...

    def retry_pending(self, wo_id: str) -> bool:
        """Whether ``wo_id`` was retried since it last started (its track takes the base)."""
        ...


@runtime_checkable
class TrackStore(Protocol):
    def get_track(self, track_id: str) -> Track:
        """The track, or ``NotFoundError``."""
        ...

    def tracks(self, project: str | None = None) -> list[Track]:
        """Every track (of ``project``, if given), by id."""
        ...

    def create_track(
        self,
        project: str,
        name: str,
        track_type: str,
        *,
        goal: str = "",
        parent: str | None = None,
        priority: int = 3,
        experiment: str | None = None,
        hypothesis: str | None = None,
        status: TrackStatus = TrackStatus.DRAFT,
    ) -> Track:
        """A new track; its id is its name, or ``<project>-<name>`` if another project has
        it. An unknown project or parent is ``NotFoundError``, a bad name or type
        ``ValidationError``. Journal: ``track_created``."""
        ...

    def list_tracks(
        self, project: str | None = None, status: str | None = None, track_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows for ``track list`` (DESIGN.md's shape), parents before their sub-tracks."""
        ...

    def subtree_work_orders(self, track_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """``wo list --track``: the WOs of a track and its sub-tracks, each once."""
        ...

    def track_counts(self, project: str | None = None) -> dict[str, int]:
        """Tracks per status (of ``project``)."""
        ...

    def set_track_status(
        self, track_id: str, target: TrackStatus, *, reason: str = "", **fields: Any
    ) -> Track:
        """Move a track through its lifecycle (an illegal move is
        ``IllegalTransitionError``); ``fields`` are set too. Journal: ``track_status``."""
        ...

    def subtracks(self, track_id: str) -> dict[str, TrackStatus]:
        """The sub-tracks of ``track_id`` and their statuses."""
        ...

    def fail_track(self, track_id: str, reason: str) -> Track:
        """Give a track up: ``paused -> failed`` (an active one is paused first, in the same
        transaction). Its branch and worktree are kept."""
        ...

    def update_track(self, track_id: str, **fields: Any) -> Track:
        """Set fields that are not its status (worktree path, budget, priority, ...)."""
        ...

    def assign(self, track_id: str, wo_ids: list[str], *, assign: bool = True) -> int:
        """Add (or with ``assign=False`` remove) WOs to a track; returns rows changed.
        Journal: ``track_assigned`` / ``track_unassigned``."""
        ...
