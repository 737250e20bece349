"""Rows to domain objects: the one place a table's row becomes what the store hands out."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.domain.dispatch import Directive
from orchestrator.domain.lifecycle import RunStatus, TrackStatus
from orchestrator.domain.organization import OrganizeMode, ProposalRecord, ProposalStatus
from orchestrator.domain.project import Project
from orchestrator.domain.run import Run
from orchestrator.domain.track import Track
from orchestrator.store.tables import (
    AgentRunRow,
    DirectiveRow,
    ProjectRow,
    TrackProposalRow,
    TrackRow,
)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _aware_required(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def run_of(row: AgentRunRow) -> Run:
    """The one conversion of a run row: every run leaves the store as this."""
    started = _aware_required(row.started_at)
    return Run(
        id=row.id,
        role=row.role,
        status=RunStatus(row.status),
        started_at=started,
        project_id=row.project_id,
        track_id=row.track_id,
        wo_id=row.wo_id,
        attempt=row.attempt,
        session_id=row.session_id,
        cost_usd=row.cost_usd,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        turns=row.turns,
        resumed_from=row.resumed_from,
        error=row.error,
        summary=row.summary,
        ended_at=aware(row.ended_at),
        daemon_id=row.daemon_id,
        cli_pid=row.cli_pid,
    )


def track_of(row: TrackRow) -> Track:
    return Track(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        type=row.type,
        status=TrackStatus(row.status),
        branch=row.branch,
        goal=row.goal,
        priority=row.priority,
        weight=row.weight,
        budget_usd=row.budget_usd,
        parent_track_id=row.parent_track_id,
        experiment=row.experiment,
        hypothesis=row.hypothesis,
        worktree_path=row.worktree_path,
        scope=tuple(row.scope),
        wo_queue=tuple(row.wo_queue),
        blocked_reason=row.blocked_reason,
        merged_commit=row.merged_commit,
        created_at=_aware_required(row.created_at),
        updated_at=_aware_required(row.updated_at),
        started_at=aware(row.started_at),
        completed_at=aware(row.completed_at),
    )


def proposal_of(row: TrackProposalRow) -> ProposalRecord:
    """The one conversion of a stored proposal (a flushed row: its id is set)."""
    assert row.id is not None
    return ProposalRecord(
        id=row.id,
        project_id=row.project_id,
        mode=OrganizeMode(row.mode),
        status=ProposalStatus(row.status),
        based_on=row.based_on,
        proposal=dict(row.proposal),
        created_at=_aware_required(row.created_at),
        run_id=row.run_id,
        decided_at=aware(row.decided_at),
    )


def project_of(row: ProjectRow, path: str | None = None) -> Project:
    """The one conversion of a project row; ``path``: this host's checkout, if not the row's."""
    return Project(
        id=row.id,
        path=path or row.path,
        base_branch=row.base_branch,
        created_at=_aware_required(row.created_at),
        check_command=row.check_command,
        remote=row.remote,
        host_id=row.host_id,
        new_wos_since_organize=row.new_wos_since_organize,
    )


def directive_of(row: DirectiveRow) -> Directive:
    """The one conversion of a directive row (a flushed one: its id is set)."""
    assert row.id is not None
    return Directive(
        id=row.id,
        weights={k: float(v) for k, v in row.weights.items()},
        budgets={k: float(v) for k, v in row.budgets.items()},
        reason=row.reason,
        created_at=_aware_required(row.created_at),
        run_id=row.run_id,
    )
