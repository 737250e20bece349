"""The runs part of the store contract: claims and settling, checkpoints, the daemon lease,
parks, the events journal and the mirrored transcripts. ``SQLiteStore`` implements it
(``claims``, ``runs``, ``checkpoints``, ``lease``, ``parks``, ``events``,
``report_queries``, ``transcripts``).

The rules of the whole store hold (``store.contract``). Claims in particular: a WO is claimed
by exactly one live run, whatever the number of concurrent claimers (threads, processes,
hosts); a loser gets ``ClaimConflictError`` and nothing changed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orchestrator.domain.checkpoint import Checkpoint, CheckpointRecord
from orchestrator.domain.hosts import DaemonLease
from orchestrator.domain.journal import JournalEvent
from orchestrator.domain.lifecycle import RunStatus, WOStatus
from orchestrator.domain.parking import Park
from orchestrator.domain.roles import Role
from orchestrator.domain.run import Run

if TYPE_CHECKING:
    # The SDK loads its MCP web stack: not on the read commands' path.
    from claude_agent_sdk import SessionStore


@runtime_checkable
class ClaimStore(Protocol):
    def start_run(
        self,
        role: Role,
        daemon_id: str,
        *,
        project_id: str | None = None,
        track_id: str | None = None,
        resumed_from: str | None = None,
    ) -> Run:
        """A running run for a decision agent (no WO claimed)."""
        ...

    def claim_work_order(
        self, wo_id: str, track_id: str, daemon_id: str, resumed_from: str | None = None
    ) -> Run:
        """Move the WO ``ready -> running`` and create its worker run, in one transaction;
        ``ClaimConflictError`` when the WO or the track already has a live run or the WO
        cannot start (exactly one of any number of concurrent claimers wins). Journal:
        ``wo_status``, ``run_started``."""
        ...

    def record_run(self, run_id: str, **fields: Any) -> None:
        """Progress of a live run (session id, pid, cost, tokens): committed as it streams."""
        ...

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        summary: str | None = None,
        wo_status: WOStatus | None = None,
        wo_fields: dict[str, Any] | None = None,
    ) -> None:
        """Settle a run and (for a worker) move its WO to ``wo_status``, in one transaction."""
        ...

    def get_run(self, run_id: str) -> Run:
        """The run, or ``NotFoundError``."""
        ...

    def list_runs(self, status: str | None = None, track: str | None = None) -> list[Run]:
        """Runs (with ``status``, of ``track``), oldest first."""
        ...

    def live_runs(self) -> list[Run]:
        """Runs still live (running, or parked waiting out a rate limit), in no order."""
        ...

    def active_runs(self) -> list[dict[str, Any]]:
        """The running runs in ``status --json``'s shape."""
        ...

    def runs_since(self, since: datetime, *, of_work_orders: bool = False) -> list[Run]:
        """Runs started at or after ``since``, oldest first (only WO runs if asked)."""
        ...

    def runs_of_wo(self, wo_id: str) -> list[Run]:
        """Every run of a WO, oldest first."""
        ...

    def parked_runs(self, limit: int = 20) -> list[Run]:
        """The newest runs a rate limit parked (interrupted, their WO back in line)."""
        ...

    def release_orphaned_claims(self) -> list[str]:
        """WOs marked running with no live run go back to ready; returns their ids."""
        ...

    def session_runs(self, session_id: str) -> list[str]:
        """The runs of agent session ``session_id``, newest first (resumes keep the id)."""
        ...

    def interrupted_wo_of_track(self, track_id: str) -> str | None:
        """The WO of the track's newest worker run if that run was interrupted."""
        ...

    def resumable_run(self, wo_id: str) -> Run | None:
        """The newest interrupted run of a WO that has a session to resume."""
        ...

    def wo_cost(self, wo_id: str) -> float:
        """What the worker runs of a WO have cost since it was last retried (or ever)."""
        ...

    def cost_since(self, since: Any) -> float:
        """USD of every run started at or after ``since`` (the night's spend)."""
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    def next_checkpoint_number(self, track_id: str) -> int:
        """Checkpoints of a track are numbered from 1 (0 is kept for the archive snapshot)."""
        ...

    def last_checkpoint_id(self, track_id: str) -> int | None:
        """The id of the track's newest checkpoint (None: it has none)."""
        ...

    def add_checkpoint(self, record: CheckpointRecord) -> Checkpoint:
        """Store a checkpoint as recorded (checksum included). Journal: ``checkpoint``."""
        ...

    def latest_good_checkpoint(self, track_id: str) -> tuple[Checkpoint | None, list[Checkpoint]]:
        """The newest checkpoint whose checksum verifies, and the corrupt ones skipped."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    def acquire_lease(self, holder: str, pid: int, hostname: str, ttl_s: float) -> DaemonLease:
        """Take this home's daemon lease (or renew our own), or raise ``DaemonRunningError``
        while another live daemon holds it; an expired lease is taken over."""
        ...

    def heartbeat(self, holder: str, ttl_s: float) -> bool:
        """Extend the lease; False when it is no longer ours or a stop was requested."""
        ...

    def beat(self, holder: str, ttl_s: float) -> str | None:
        """Extend the lease; None while it is ours, else why the daemon must stop."""
        ...

    def release_lease(self, holder: str) -> None:
        """Give the lease up (only ``holder``'s own)."""
        ...

    def request_stop(self) -> DaemonLease | None:
        """Ask the live daemon (if any) to stop gracefully at its next heartbeat."""
        ...

    def current_lease(self) -> DaemonLease | None:
        """This home's lease row, live or not (None if no daemon of it ever ran). Each host
        sharing a database has its own (the store's ``host_key``)."""
        ...

    def live_daemons(self) -> set[str]:
        """The daemon ids of every host whose daemon lease is live: their runs are not
        interrupted, and their tracks are theirs."""
        ...

    def dead_daemons(self) -> set[str]:
        """The daemon ids a lease still names that is not live (its daemon killed, or
        stopped): their runs left live are no one's. Daemon ids that never held a lease
        (``orch organize`` and other one-shot commands) are in neither set."""
        ...

    def lease_is_live(self, lease: DaemonLease | None) -> bool:
        """Whether ``lease`` is unexpired and its process alive (on this host)."""
        ...


@runtime_checkable
class EventStore(Protocol):
    def events_after(self, after_id: int, limit: int = 200) -> list[JournalEvent]:
        """Events newer than ``after_id``, oldest first (at most ``limit``); ids grow in
        commit order, so a reader that passes the last id it saw misses nothing."""
        ...

    def recent_events(self, limit: int = 50) -> list[JournalEvent]:
        """The newest ``limit`` events, oldest first."""
        ...

    def status_moves_since(
        self, since: datetime, kind: str, to_status: str | None = None
    ) -> list[JournalEvent]:
        """Journal entries of ``kind`` at or after ``since``, oldest first."""
        ...

    def note_run_limits(
        self, holder: str, until: datetime | None, budget_usd: float | None
    ) -> None:
        """Journal a daemon's limits, so a dashboard in another process can show them."""
        ...

    def run_limits(self, holder: str) -> dict[str, Any]:
        """The limits and start time of the daemon ``holder`` ({} if it noted none)."""
        ...

    def note_daemon_started(self, daemon_id: str) -> None:
        """Journal a daemon's start (parks are listed per daemon run)."""
        ...

    def record_park(self, park: Park) -> None:
        """Journal that work was parked (a rate limit, a backend that cannot work)."""
        ...

    def parks_since(self, since: datetime) -> list[Park]:
        """Parks journaled at or after ``since``, oldest first."""
        ...

    def latest_parks(self) -> list[Park]:
        """The parks of the newest daemon run (the one running, or the last one)."""
        ...


@runtime_checkable
class TranscriptStore(Protocol):
    def session_store(self) -> SessionStore:
        """The SDK ``SessionStore`` adapter on this store's database; it passes
        ``claude_agent_sdk.testing.run_session_store_conformance``."""
        ...

    def session_entries(self, session_id: str) -> list[dict[str, Any]]:
        """Every mirrored line of a session's main transcript, in order ([] if none)."""
        ...

    def carry_session(self, session_id: str, cwd: Path) -> bool:
        """Make a session mirrored under another directory resumable from ``cwd`` (the SDK
        keys transcripts by directory; a host taking a track over has its own worktree):
        True if its transcripts were copied, False if ``cwd`` has them or nobody does."""
        ...
