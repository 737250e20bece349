"""The next steps of an experiment, from its state alone: a pure function the daemon repeats.

Each step is idempotent and the daemon only ever takes the steps this function names, so a
crash at any moment is repaired by asking again: a half-done evaluation is resumed, a
decision made but not landed is landed, a landed experiment's losers are cleaned up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.domain.experiment import (
    DecideMode,
    Experiment,
    ExperimentStatus,
    VariantStatus,
)
from orchestrator.domain.lifecycle import TrackStatus

#: Track statuses a variant's track never leaves again.
FINAL_TRACK_STATUSES = frozenset(
    {TrackStatus.CANCELLED, TrackStatus.COMPLETED, TrackStatus.ARCHIVED}
)


#: A variant whose track a person ended this way can no longer be evaluated.
_GONE = frozenset({TrackStatus.CANCELLED, TrackStatus.FAILED, TrackStatus.ARCHIVED})


@dataclass(frozen=True)
class VariantProgress:
    """What the store says of one variant's track right now."""

    track_status: TrackStatus
    #: WOs not yet done (backlog, ready, running, blocked, failed).
    unfinished: int
    failed_wos: tuple[str, ...]
    #: Live runs on the track (a worker, or a decision agent for it).
    live_runs: int
    cost_usd: float
    has_worktree: bool


@dataclass(frozen=True)
class Step:
    """One thing to do: ``kind`` names it, ``track`` the variant when it is about one."""

    kind: str
    track: str | None = None
    reason: str = ""


ACTIVATE = "activate"
DISQUALIFY = "disqualify"
EVALUATE = "evaluate"
#: Move the experiment to ``reason``'s status (running, evaluating or deciding).
STATUS = "status"
DECIDE = "decide"
LAND = "land"
FAIL = "fail"
CLEANUP = "cleanup"


def over_budget(experiment: Experiment, progress: VariantProgress) -> str | None:
    budget = experiment.budget_per_variant_usd
    if budget is not None and progress.cost_usd > budget:
        return f"over its budget: spent ${progress.cost_usd:.4f} of ${budget:.4f}"
    return None


def _variant_steps(experiment: Experiment, progress: Mapping[str, VariantProgress]) -> list[Step]:
    steps: list[Step] = []
    for variant in experiment.variants:
        state = progress.get(variant.track_id)
        if state is None:
            continue
        if variant.status is VariantStatus.RUNNING:
            if state.track_status is TrackStatus.DRAFT:
                steps.append(Step(ACTIVATE, variant.track_id))
                continue
            if state.live_runs:
                continue
            if state.track_status in _GONE:
                reason = f"its track was {state.track_status.value} by hand"
                steps.append(Step(DISQUALIFY, variant.track_id, reason))
                continue
            money = over_budget(experiment, state)
            if money is not None:
                steps.append(Step(DISQUALIFY, variant.track_id, money))
            elif state.failed_wos:
                steps.append(
                    Step(
                        DISQUALIFY,
                        variant.track_id,
                        "work order(s) failed: " + ", ".join(state.failed_wos),
                    )
                )
            elif state.unfinished == 0 and state.track_status in (
                TrackStatus.ACTIVE,
                TrackStatus.PAUSED,
            ):
                steps.append(Step(EVALUATE, variant.track_id))
        elif variant.status is VariantStatus.EVALUATING and not state.live_runs:
            steps.append(Step(EVALUATE, variant.track_id))
    return steps


def _status_after(experiment: Experiment) -> ExperimentStatus:
    statuses = {v.status for v in experiment.variants}
    if statuses <= {VariantStatus.SCORED, VariantStatus.DISQUALIFIED}:
        return ExperimentStatus.DECIDING
    if VariantStatus.RUNNING in statuses:
        return ExperimentStatus.RUNNING
    return ExperimentStatus.EVALUATING


def _cleanup_steps(experiment: Experiment, progress: Mapping[str, VariantProgress]) -> list[Step]:
    steps = []
    for variant in experiment.variants:
        state = progress.get(variant.track_id)
        if state is None or variant.track_id == experiment.winner_track_id:
            continue
        pending = state.track_status not in FINAL_TRACK_STATUSES or state.has_worktree
        if pending and not state.live_runs:
            steps.append(Step(CLEANUP, variant.track_id))
    return steps


def next_steps(experiment: Experiment, progress: Mapping[str, VariantProgress]) -> list[Step]:
    """What to do now, in order. Empty: nothing until something else changes."""
    if experiment.status not in (
        ExperimentStatus.RUNNING,
        ExperimentStatus.EVALUATING,
        ExperimentStatus.DECIDING,
    ):
        return _cleanup_steps(experiment, progress)
    steps = _variant_steps(experiment, progress)
    if steps:
        return steps
    target = _status_after(experiment)
    if target is not experiment.status:
        return [Step(STATUS, reason=target.value)]
    if experiment.status is not ExperimentStatus.DECIDING:
        return []
    if experiment.winner_track_id is not None:
        winner = progress.get(experiment.winner_track_id)
        if winner is not None and winner.track_status is TrackStatus.PAUSED:
            return []  # its merge is blocked (a conflict): `orch track resume` retries
        return [Step(LAND, experiment.winner_track_id)]
    if not any(v.status is VariantStatus.SCORED for v in experiment.variants):
        return [Step(FAIL, reason="every variant was disqualified")]
    if experiment.decide is DecideMode.MANUAL:
        return []
    return [Step(DECIDE)]
