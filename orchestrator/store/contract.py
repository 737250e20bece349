"""The store contract: what the daemon, the CLI and the dashboard may ask of the state.

They depend on :class:`Store` (or the narrower Protocols it is made of), never on a backend
class, ORM sessions or the engine; backends are built at the edge by
``sqlite_store.open_store`` from ``store.url``. ``store.testing.run_store_conformance`` checks
a backend against the rules below.

Rules every backend keeps, for every method:

- One call is one transaction: it commits entirely or not at all, and its journal entries
  (``events``) commit with it. A call that raises changed nothing.
- Lifecycle moves go through ``domain.lifecycle`` (``IllegalTransitionError``); unknown ids
  raise ``NotFoundError``; bad values ``ValidationError`` (both ``UserInputError``, exit 2).
- A database failure raises a ``StoreError`` (``StoreBusy``, ``StoreUnavailable``,
  ``StoreCorrupt``, ``StoreConflict``), never a driver's or SQLAlchemy's error.
- Claims are exclusive: of any number of concurrent ``claim_work_order`` calls for one WO
  (or one track) exactly one wins; the others raise ``ClaimConflictError``.
- Events get increasing ids in commit order (``events_after`` misses nothing).
- Stored strings pass through the active redactor: no secret reaches the database.

Answers are domain objects (``Track``, ``Run``, ``WorkOrder``, ``Experiment``, ``Host``,
``JournalEvent``, ``Park``) where the Protocol says so. Some methods still hand out rows of
``store.tables`` (marked by their return types); callers read them and never write them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from orchestrator.store.experiment_contract import ExperimentStore
from orchestrator.store.host_contract import HostStore, NamedLockStore
from orchestrator.store.plan_contract import PlanningStore, ProposalStore
from orchestrator.store.run_contract import (
    CheckpointStore,
    ClaimStore,
    EventStore,
    LeaseStore,
    TranscriptStore,
)
from orchestrator.store.work_contract import ProjectStore, TrackStore, WorkOrderStore

__all__ = [
    "CheckpointStore",
    "ClaimStore",
    "EventStore",
    "ExperimentStore",
    "HostStore",
    "LeaseStore",
    "NamedLockStore",
    "PlanningStore",
    "ProjectStore",
    "ProposalStore",
    "Store",
    "TrackStore",
    "TranscriptStore",
    "WorkOrderStore",
]


@runtime_checkable
class Store(
    ProjectStore,
    WorkOrderStore,
    TrackStore,
    ClaimStore,
    CheckpointStore,
    LeaseStore,
    EventStore,
    TranscriptStore,
    PlanningStore,
    ProposalStore,
    ExperimentStore,
    HostStore,
    NamedLockStore,
    Protocol,
):
    """Everything above: what ``open_store`` returns."""

    @property
    def on_postgres(self) -> bool:
        """Whether the backend is PostgreSQL (for what differs by engine, e.g. messages)."""
        ...

    def schema_revision(self) -> str | None:
        """The database's migration revision (None before the first)."""
        ...

    def integrity_ok(self) -> bool:
        """Whether the backend's own consistency check passes."""
        ...

    def status_summary(self) -> dict[str, Any]:
        """Counts for ``orch status``: per project, tracks and WOs by status."""
        ...

    def close(self) -> None:
        """Release the connections; the store is not used afterwards."""
        ...
