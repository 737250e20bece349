"""Competing experiments: one problem, N hypotheses raced from one base commit, one winner.

An experiment's lifecycle (every move goes through :func:`check_experiment_transition`)::

    running -> evaluating -> deciding -> merged
       |            |            |-----> failed      (every variant disqualified)
       '------------'------------'-----> cancelled   (orch experiment cancel)

``running`` while some variant still works on its WOs; ``evaluating`` once none does but an
evaluation is pending; ``deciding`` when every variant is scored or disqualified and the
winner has not landed yet (a manual experiment waits here for ``orch experiment decide``).

A variant's lifecycle::

    running -> evaluating -> scored -> merged (the winner) | cancelled (a loser)
       |            '-----> disqualified -> cancelled
       '-------------------> disqualified
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from orchestrator.domain.errors import IllegalTransitionError, ValidationError


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    EVALUATING = "evaluating"
    DECIDING = "deciding"
    MERGED = "merged"
    CANCELLED = "cancelled"
    FAILED = "failed"


class VariantStatus(StrEnum):
    RUNNING = "running"
    EVALUATING = "evaluating"
    SCORED = "scored"
    DISQUALIFIED = "disqualified"
    MERGED = "merged"
    CANCELLED = "cancelled"


class Direction(StrEnum):
    """Whether a higher (max) or a lower (min) score is better."""

    MAX = "max"
    MIN = "min"

    @classmethod
    def parse(cls, value: str) -> Direction:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValidationError(f"invalid --direction {value!r}: max or min") from None


class DecideMode(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"

    @classmethod
    def parse(cls, value: str) -> DecideMode:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValidationError(f"invalid --decide {value!r}: auto or manual") from None


_E = ExperimentStatus
EXPERIMENT_TRANSITIONS: dict[ExperimentStatus, frozenset[ExperimentStatus]] = {
    # running -> deciding: the last variants were disqualified without an evaluation.
    _E.RUNNING: frozenset({_E.EVALUATING, _E.DECIDING, _E.CANCELLED}),
    _E.EVALUATING: frozenset({_E.RUNNING, _E.DECIDING, _E.CANCELLED}),
    _E.DECIDING: frozenset({_E.MERGED, _E.FAILED, _E.CANCELLED}),
    _E.MERGED: frozenset(),
    _E.FAILED: frozenset(),
    _E.CANCELLED: frozenset(),
}

_V = VariantStatus
VARIANT_TRANSITIONS: dict[VariantStatus, frozenset[VariantStatus]] = {
    _V.RUNNING: frozenset({_V.EVALUATING, _V.DISQUALIFIED, _V.CANCELLED}),
    _V.EVALUATING: frozenset({_V.SCORED, _V.DISQUALIFIED, _V.CANCELLED}),
    _V.SCORED: frozenset({_V.MERGED, _V.CANCELLED}),
    _V.DISQUALIFIED: frozenset({_V.CANCELLED}),
    _V.MERGED: frozenset(),
    _V.CANCELLED: frozenset(),
}

#: Experiments the daemon still has to work on.
OPEN_EXPERIMENT_STATUSES = frozenset({_E.RUNNING, _E.EVALUATING, _E.DECIDING})
#: Variants whose evaluation is over (a result, good or bad, is recorded).
SETTLED_VARIANT_STATUSES = frozenset({_V.SCORED, _V.DISQUALIFIED})

S = TypeVar("S", ExperimentStatus, VariantStatus)


def check_experiment_transition(subject: str, current: S, target: S) -> S:
    """``target`` when ``current -> target`` is legal (for an experiment or a variant)."""
    table: dict[S, frozenset[S]]
    if isinstance(current, ExperimentStatus):
        table, kind = EXPERIMENT_TRANSITIONS, "experiment"
    else:
        table, kind = VARIANT_TRANSITIONS, "variant"
    if target not in table[current]:
        allowed = ", ".join(sorted(s.value for s in table[current])) or "none (final)"
        raise IllegalTransitionError(
            f"{kind} {subject} cannot go from {current.value} to {target.value} "
            f"(allowed from {current.value}: {allowed})"
        )
    return target


@dataclass(frozen=True)
class EvalRun:
    """One run of the evaluation command in a variant's worktree."""

    track_id: str
    attempt: int
    index: int
    head_sha: str
    exit_code: int | None
    score: float | None
    error: str | None
    output_tail: str
    duration_s: float
    timed_out: bool = False


@dataclass(frozen=True)
class Variant:
    """One competing track of an experiment and what its evaluation found."""

    experiment_id: str
    track_id: str
    position: int
    hypothesis: str
    status: VariantStatus
    #: The evaluation attempt in progress or done (a new HEAD starts a new attempt).
    eval_attempt: int = 0
    eval_head: str | None = None
    score: float | None = None
    score_min: float | None = None
    score_max: float | None = None
    #: Why the variant was disqualified (or its evaluation failed), else None.
    eval_error: str | None = None
    #: Whether every WO of the variant passed the project's check (None: not known yet).
    check_passed: bool | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    duration_s: float = 0.0
    files_changed: int = 0
    lines_added: int = 0
    lines_deleted: int = 0
    runs: tuple[EvalRun, ...] = ()

    @property
    def lines_changed(self) -> int:
        return self.lines_added + self.lines_deleted

    @property
    def scores(self) -> list[float]:
        """The raw scores of the current attempt's runs, in run order."""
        return [
            r.score
            for r in sorted(self.runs, key=lambda r: r.index)
            if r.attempt == self.eval_attempt and r.score is not None
        ]


@dataclass(frozen=True)
class Experiment:
    """One problem, N hypotheses, one evaluation command, one decision."""

    id: str
    project_id: str
    name: str
    status: ExperimentStatus
    base_branch: str
    base_commit: str
    eval_command: str
    metric: str
    direction: Direction
    eval_runs: int
    eval_timeout_s: float
    decide: DecideMode
    goal: str = ""
    budget_per_variant_usd: float | None = None
    #: The problem's WOs (the originals the variants copied).
    original_wo_ids: tuple[str, ...] = ()
    winner_track_id: str | None = None
    #: Who decided: auto (the rule), judge (the judge agent), manual (a person).
    decided_by: str | None = None
    decision_reason: str | None = None
    #: The rule's own words on a close call (medians within each other's spread), if any.
    close_call: str | None = None
    merge_commit: str | None = None
    report_path: str | None = None
    adr_path: str | None = None
    #: Why it failed or was cancelled.
    error: str | None = None
    created_at: datetime | None = None
    decided_at: datetime | None = None
    finished_at: datetime | None = None
    variants: tuple[Variant, ...] = field(default_factory=tuple)

    def variant(self, track_id: str) -> Variant:
        for v in self.variants:
            if v.track_id == track_id:
                return v
        raise ValidationError(
            f"{track_id!r} is not a variant of experiment {self.id} "
            f"(variants: {', '.join(v.track_id for v in self.variants)})"
        )
