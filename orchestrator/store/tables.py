"""SQLModel tables of the state DB. Only ``store/`` imports this module.

JSON-valued columns hold lists and dicts as text (SQLite has no array type); timestamps are
UTC. Every table that has a lifecycle keeps its status as text matching the domain's enums.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC; SQLModel stores it as UTC and hands it back aware."""
    return datetime.now(UTC)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ProjectRow(SQLModel, table=True):
    __tablename__ = "projects"

    id: str = Field(primary_key=True)
    path: str
    base_branch: str
    check_command: str = ""
    #: The shared git remote (a bare repository's path or a git URL) hosts exchange work
    #: through; empty for a project worked on one host only.
    remote: str = ""
    #: The host that added the project: it works in ``path``, the others in their own clones.
    host_id: str | None = None
    #: WOs created since the organizer last ran for this project (auto-organize trigger).
    new_wos_since_organize: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class WorkOrderRow(SQLModel, table=True):
    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_project_status", "project_id", "status"),
        # A dependency's status without reading the WO's row (planning checks many).
        Index("ix_work_orders_id_status", "id", "status"),
    )

    id: str = Field(primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    title: str
    goal: str = ""
    context: list[str] = _json_list()
    acceptance_criteria: list[str] = _json_list()
    non_goals: list[str] = _json_list()
    priority: int = 3
    tags: list[str] = _json_list()
    status: str = "backlog"
    estimate_hours: float | None = None
    created_on: str | None = None
    updated_on: str | None = None
    body: str = ""
    extra: dict[str, Any] = _json_dict()
    #: Where the WO came from: import, cli or agent.
    source: str = "cli"
    attempts: int = 0
    last_error: str | None = None
    done_commit: str | None = None
    inserted_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)


class WODependencyRow(SQLModel, table=True):
    __tablename__ = "wo_dependencies"

    wo_id: str = Field(foreign_key="work_orders.id", primary_key=True)
    depends_on_id: str = Field(foreign_key="work_orders.id", primary_key=True, index=True)


class TrackRow(SQLModel, table=True):
    __tablename__ = "tracks"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: str = Field(primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    name: str
    goal: str = ""
    type: str = "feature"
    status: str = Field(default="draft", index=True)
    #: 1 is the most important, as in the WO files.
    priority: int = 3
    #: Share of free slots the global agent gives this track (relative to other tracks).
    weight: float = 1.0
    budget_usd: float | None = None
    parent_track_id: str | None = Field(default=None, foreign_key="tracks.id")
    experiment: str | None = None
    hypothesis: str | None = None
    branch: str
    worktree_path: str | None = None
    scope: list[str] = _json_list()
    #: The project agent's ordered choice of the next WOs (advisory: claims live on the WO).
    wo_queue: list[str] = _json_list()
    blocked_reason: str | None = None
    merged_commit: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None


class WOTrackRow(SQLModel, table=True):
    """A WO's membership of a track, with a copy of the WO's status and priority.

    The copies are kept by triggers (migration 0004) on every insert here and every change
    of ``work_orders.status``/``priority``; never written by us. They let planning read a
    track's unfinished WOs, in priority order, from one index, never the finished ones.
    """

    __tablename__ = "wo_tracks"
    __table_args__ = (
        Index(
            "ix_wo_tracks_track_status_priority", "track_id", "wo_status", "wo_priority", "wo_id"
        ),
    )

    wo_id: str = Field(foreign_key="work_orders.id", primary_key=True)
    track_id: str = Field(foreign_key="tracks.id", primary_key=True, index=True)
    wo_status: str = Field(default="", sa_column_kwargs={"server_default": ""})
    wo_priority: int = Field(default=3, sa_column_kwargs={"server_default": "3"})


class AgentRunRow(SQLModel, table=True):
    __tablename__ = "agent_runs"
    __table_args__ = (
        # A track's newest worker run (was it interrupted?) without sorting all its runs.
        Index("ix_agent_runs_track_role_started", "track_id", "role", "started_at"),
        # The night's spend (``cost_since``) without reading older runs.
        Index("ix_agent_runs_started_cost", "started_at", "cost_usd"),
    )

    id: str = Field(primary_key=True)
    role: str
    project_id: str | None = Field(default=None, foreign_key="projects.id")
    track_id: str | None = Field(default=None, foreign_key="tracks.id", index=True)
    wo_id: str | None = Field(default=None, foreign_key="work_orders.id", index=True)
    attempt: int = 1
    session_id: str | None = None
    status: str = Field(default="running", index=True)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    #: The daemon (lease holder) that started the run, and the CLI process it spawned.
    daemon_id: str | None = None
    cli_pid: int | None = None
    resumed_from: str | None = None
    error: str | None = None
    summary: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class TrackWOCountRow(SQLModel, table=True):
    """How many of each track's WOs are in each status, kept by triggers (migration 0004)
    on every change of ``wo_tracks`` (which mirrors the WOs' status); never written by us.
    Counts per track cost one row per status, however many WOs are finished."""

    __tablename__ = "track_wo_counts"

    track_id: str = Field(primary_key=True)
    status: str = Field(primary_key=True)
    n: int = 0


class TrackCostRow(SQLModel, table=True):
    """What each track's runs have cost so far, kept by triggers (migration 0004) on every
    insert, cost change and delete of ``agent_runs``; never written by us. Planning reads a
    track's spend from here instead of summing all its runs on every dispatch round."""

    __tablename__ = "track_costs"

    track_id: str = Field(primary_key=True)
    cost_usd: float = 0.0


class CheckpointRow(SQLModel, table=True):
    __tablename__ = "checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    track_id: str = Field(foreign_key="tracks.id", index=True)
    run_id: str | None = Field(default=None, foreign_key="agent_runs.id")
    wo_id: str | None = None
    attempt: int = 1
    session_id: str | None = None
    head_sha: str | None = None
    snapshot_ref: str | None = None
    snapshot_sha: str | None = None
    cost_usd: float = 0.0
    reason: str = ""
    checksum: str
    created_at: datetime = Field(default_factory=utcnow)


class EventRow(SQLModel, table=True):
    """Append-only journal of every state change."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(index=True)
    subject_type: str
    subject_id: str = Field(index=True)
    from_status: str | None = None
    to_status: str | None = None
    run_id: str | None = None
    data: dict[str, Any] = _json_dict()


class TrackProposalRow(SQLModel, table=True):
    __tablename__ = "track_proposals"

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    mode: str
    status: str = "pending"
    #: The project's organization fingerprint when the proposal was made (stale detection).
    based_on: str
    proposal: dict[str, Any] = _json_dict()
    run_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None


class DirectiveRow(SQLModel, table=True):
    """The global agent's directives: track weights and budgets, newest last."""

    __tablename__ = "directives"

    id: int | None = Field(default=None, primary_key=True)
    weights: dict[str, Any] = _json_dict()
    budgets: dict[str, Any] = _json_dict()
    reason: str = ""
    run_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class DaemonLeaseRow(SQLModel, table=True):
    """At most one row: the daemon that owns this state home, kept alive by heartbeats."""

    __tablename__ = "daemon_lease"
    __table_args__ = (Index("ux_daemon_lease_host", "host_id", unique=True),)

    id: int = Field(default=1, primary_key=True)
    holder: str
    pid: int
    hostname: str
    #: The home's host id once several homes share the database (one lease per host).
    host_id: str | None = None
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    stop_requested: bool = False


class ExperimentRow(SQLModel, table=True):
    """One experiment: the problem, the evaluation, the decision and how it landed."""

    __tablename__ = "experiments"

    id: str = Field(primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True)
    name: str
    status: str = Field(default="running", index=True)
    goal: str = ""
    base_branch: str
    base_commit: str
    eval_command: str
    metric: str = "score"
    direction: str = "max"
    eval_runs: int = 3
    eval_timeout_s: float
    decide: str = "auto"
    budget_per_variant_usd: float | None = None
    winner_track_id: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    close_call: str | None = None
    merge_commit: str | None = None
    report_path: str | None = None
    adr_path: str | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    finished_at: datetime | None = None


class ExperimentVariantRow(SQLModel, table=True):
    """One competing track of an experiment and its evaluation's outcome."""

    __tablename__ = "experiment_variants"

    track_id: str = Field(foreign_key="tracks.id", primary_key=True)
    experiment_id: str = Field(foreign_key="experiments.id", index=True)
    position: int
    hypothesis: str
    status: str = "running"
    eval_attempt: int = 0
    eval_head: str | None = None
    score: float | None = None
    score_min: float | None = None
    score_max: float | None = None
    eval_error: str | None = None
    check_passed: bool | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    duration_s: float = 0.0
    files_changed: int = 0
    lines_added: int = 0
    lines_deleted: int = 0


class ExperimentWORow(SQLModel, table=True):
    """The WOs of an experiment: its originals (the problem) and each variant's copies."""

    __tablename__ = "experiment_wos"

    experiment_id: str = Field(foreign_key="experiments.id", primary_key=True)
    wo_id: str = Field(foreign_key="work_orders.id", primary_key=True, index=True)
    #: "original" or "copy".
    role: str
    variant_track_id: str | None = None
    original_wo_id: str | None = None


class EvalRunRow(SQLModel, table=True):
    """One run of the evaluation command; the unique key makes a re-run after a crash
    record each run once per attempt."""

    __tablename__ = "eval_runs"
    __table_args__ = (
        UniqueConstraint(
            "track_id", "attempt", "run_index", name="uq_eval_runs_track_attempt_index"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: str = Field(foreign_key="experiments.id", index=True)
    track_id: str = Field(foreign_key="tracks.id")
    attempt: int
    run_index: int
    head_sha: str
    exit_code: int | None = None
    score: float | None = None
    error: str | None = None
    output_tail: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class HostRow(SQLModel, table=True):
    """A state home whose daemon works on this database (one per home)."""

    __tablename__ = "hosts"

    id: str = Field(primary_key=True)
    hostname: str
    home: str
    pid: int | None = None
    started_at: datetime | None = None
    last_seen_at: datetime = Field(default_factory=utcnow)


class TrackLeaseRow(SQLModel, table=True):
    """The host that owns an active track until ``expires_at``, unless it renews the lease."""

    __tablename__ = "track_leases"
    __table_args__ = (Index("ix_track_leases_host", "host_id"),)

    track_id: str = Field(primary_key=True, foreign_key="tracks.id")
    host_id: str = Field(foreign_key="hosts.id")
    acquired_at: datetime
    heartbeat_at: datetime
    ttl_s: float
    expires_at: datetime


class NamedLockRow(SQLModel, table=True):
    """A lock held across processes and hosts (e.g. ``merge:<project>``) until released or
    expired: a holder killed while holding it blocks the others for its time to live only."""

    __tablename__ = "named_locks"

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: datetime
    expires_at: datetime
