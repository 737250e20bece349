"""Experiment rows to domain objects (the store hands out ``Experiment``, never rows)."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain.experiment import (
    DecideMode,
    Direction,
    EvalRun,
    Experiment,
    ExperimentStatus,
    Variant,
    VariantStatus,
)
from orchestrator.store.tables import (
    EvalRunRow,
    ExperimentRow,
    ExperimentVariantRow,
)


def to_eval_run(row: EvalRunRow) -> EvalRun:
    return EvalRun(
        track_id=row.track_id,
        attempt=row.attempt,
        index=row.run_index,
        head_sha=row.head_sha,
        exit_code=row.exit_code,
        score=row.score,
        error=row.error,
        output_tail=row.output_tail,
        duration_s=row.duration_s,
        timed_out=row.timed_out,
    )


def to_variant(row: ExperimentVariantRow, runs: Sequence[EvalRunRow]) -> Variant:
    return Variant(
        experiment_id=row.experiment_id,
        track_id=row.track_id,
        position=row.position,
        hypothesis=row.hypothesis,
        status=VariantStatus(row.status),
        eval_attempt=row.eval_attempt,
        eval_head=row.eval_head,
        score=row.score,
        score_min=row.score_min,
        score_max=row.score_max,
        eval_error=row.eval_error,
        check_passed=row.check_passed,
        cost_usd=row.cost_usd,
        tokens=row.tokens,
        duration_s=row.duration_s,
        files_changed=row.files_changed,
        lines_added=row.lines_added,
        lines_deleted=row.lines_deleted,
        runs=tuple(to_eval_run(r) for r in runs if r.track_id == row.track_id),
    )


def to_experiment(
    row: ExperimentRow,
    variants: Sequence[ExperimentVariantRow],
    runs: Sequence[EvalRunRow],
    originals: Sequence[str],
) -> Experiment:
    return Experiment(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        status=ExperimentStatus(row.status),
        base_branch=row.base_branch,
        base_commit=row.base_commit,
        eval_command=row.eval_command,
        metric=row.metric,
        direction=Direction(row.direction),
        eval_runs=row.eval_runs,
        eval_timeout_s=row.eval_timeout_s,
        decide=DecideMode(row.decide),
        goal=row.goal,
        budget_per_variant_usd=row.budget_per_variant_usd,
        original_wo_ids=tuple(originals),
        winner_track_id=row.winner_track_id,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        close_call=row.close_call,
        merge_commit=row.merge_commit,
        report_path=row.report_path,
        adr_path=row.adr_path,
        error=row.error,
        created_at=row.created_at,
        decided_at=row.decided_at,
        finished_at=row.finished_at,
        variants=tuple(to_variant(v, runs) for v in sorted(variants, key=lambda v: v.position)),
    )
