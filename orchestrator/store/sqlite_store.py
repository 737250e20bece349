"""``SQLiteStore``: the one object through which the rest of the program reads and writes state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from orchestrator.store.checkpoints import CheckpointQueries
from orchestrator.store.claims import ClaimQueries
from orchestrator.store.db import make_engine
from orchestrator.store.db_errors import translating
from orchestrator.store.events import EventQueries
from orchestrator.store.experiment_moves import ExperimentMoves
from orchestrator.store.hosts import HostQueries
from orchestrator.store.lease import LeaseQueries
from orchestrator.store.named_locks import NamedLockQueries
from orchestrator.store.parks import ParkQueries
from orchestrator.store.planning import PlanningQueries
from orchestrator.store.projects import ProjectQueries
from orchestrator.store.proposals import ProposalQueries
from orchestrator.store.report_queries import ReportQueries
from orchestrator.store.retries import RetryQueries
from orchestrator.store.runs import RunQueries
from orchestrator.store.tracks import TrackQueries
from orchestrator.store.transcripts import TranscriptQueries
from orchestrator.store.work_orders import WorkOrderQueries

if TYPE_CHECKING:
    from orchestrator.store.contract import Store

#: The newest migration; checked without importing Alembic so read commands start fast.
HEAD_REVISION = "0006"


class SQLiteStore(
    ExperimentMoves,
    ProjectQueries,
    ClaimQueries,
    RetryQueries,
    ProposalQueries,
    WorkOrderQueries,
    TrackQueries,
    RunQueries,
    LeaseQueries,
    HostQueries,
    NamedLockQueries,
    PlanningQueries,
    CheckpointQueries,
    ParkQueries,
    EventQueries,
    ReportQueries,
    TranscriptQueries,
):
    """All queries on the state DB (SQLite, or PostgreSQL through ``store.url``)."""

    @classmethod
    def open(cls, target: Path | str, *, migrate: bool = True) -> SQLiteStore:
        """Open the DB (a SQLite file's path or a ``store.url``), creating or upgrading its
        schema to the newest revision if needed."""
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
        elif target.startswith("sqlite:///"):
            Path(target.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        store = cls(make_engine(target))
        if migrate and store.schema_revision() != HEAD_REVISION:
            from orchestrator.store.migrate import upgrade

            with translating():
                upgrade(store.engine)
        return store

    def schema_revision(self) -> str | None:
        with translating(), self.engine.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT to_regclass('alembic_version') IS NOT NULL"
                if self.on_postgres
                else "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).scalar()
            if not exists:
                return None
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
            return None if row is None else str(row[0])

    def integrity_ok(self) -> bool:
        with translating(), self.engine.connect() as conn:
            if self.on_postgres:
                # The server keeps its pages consistent (WAL); what can go wrong underneath
                # us is an index left invalid by a failed build.
                invalid = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_index AS i JOIN pg_class AS c"
                        " ON c.oid = i.indrelid WHERE NOT i.indisvalid"
                        " AND c.relnamespace = 'public'::regnamespace"
                    )
                ).scalar()
                return invalid == 0
            return conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"

    def status_summary(self) -> dict[str, Any]:
        """Counts for ``orch status``: per project, tracks and WOs by status."""
        projects = []
        for project in self.list_projects():
            projects.append(
                {
                    "id": project.id,
                    "path": project.path,
                    "base_branch": project.base_branch,
                    "tracks": self.track_counts(project.id),
                    "work_orders": self.wo_counts(project.id),
                }
            )
        return {
            "projects": projects,
            "tracks": self.track_counts(),
            "work_orders": self.wo_counts(),
        }

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> SQLiteStore:
    """The store at ``url`` (``Settings.store_url``: a SQLite file or a PostgreSQL database).

    The one place the CLI, daemon, dashboard and demo open the state, so the backend is
    chosen by ``store.url`` alone.
    """
    return SQLiteStore.open(url, migrate=migrate)


if TYPE_CHECKING:
    # SQLiteStore keeps the whole contract (mypy checks it here).
    _conforms: type[Store] = SQLiteStore
