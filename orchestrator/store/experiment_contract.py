"""The experiments part of the store contract: what the daemon and the CLI ask about
experiments. ``SQLiteStore`` implements it (``experiments``, ``experiment_starts``,
``experiment_moves``); the answers are domain objects (``domain.experiment``), never rows.

The rules of the whole store hold: one transaction per call, its journal entries in the same
transaction, lifecycle moves through ``check_experiment_transition`` (and the track and WO
lifecycles), unknown ids raise ``NotFoundError``, bad values ``ValidationError``; a call
that raises changed nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, runtime_checkable

from orchestrator.domain.experiment import EvalRun, Experiment, ExperimentStatus
from orchestrator.domain.experiment_plan import VariantProgress
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.track import Track
from orchestrator.store.experiments import NewExperiment


@runtime_checkable
class ExperimentStore(Protocol):
    def start_experiment(self, new: NewExperiment) -> Experiment:
        """Create the experiment, one draft track per hypothesis with its own copies of the
        problem's WOs (a goal becomes one more WO), and block the originals. Refuses a
        taken name, an unknown WO, another project's WO, a WO another experiment holds, a
        done, running or cancelled WO. Journal: ``experiment_created``, ``track_created``,
        ``wo_created``, ``wo_status``, ``track_assigned``."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with its variants and every evaluation run."""
        ...

    def list_experiments(
        self, project: str | None = None, statuses: Collection[ExperimentStatus] | None = None
    ) -> list[Experiment]:
        """Experiments matching the filters, oldest first."""
        ...

    def experiments_in_play(self) -> list[Experiment]:
        """Open experiments, and ended ones whose losers are not cleaned up yet."""
        ...

    def experiment_of_track(self, track_id: str) -> Experiment | None:
        """The experiment a track is a variant of (its branch's start point), if any."""
        ...

    def experiment_problem(self, experiment_id: str) -> list[WorkOrder]:
        """The original WOs, by id."""
        ...

    def variant_progress(self, experiment: Experiment) -> dict[str, VariantProgress]:
        """Per variant: its track's status, unfinished and failed WOs, live runs, cost."""
        ...

    def variant_usage(self, track_id: str) -> tuple[float, int]:
        """(USD, tokens) of every run on a variant's track."""
        ...

    def activate_variant_track(self, track_id: str, worktree: str) -> Track:
        """``draft -> ready -> active`` with its worktree path, in one transaction."""
        ...

    def start_evaluation(self, track_id: str, head: str, **facts: object) -> int:
        """Variant ``running -> evaluating``; returns the attempt (a new one for a new HEAD)
        and stores ``facts`` (cost, tokens, duration, diff stats)."""
        ...

    def record_eval_run(self, experiment_id: str, run: EvalRun) -> bool:
        """Store one run; False, writing nothing, when that (track, attempt, index) is
        recorded already. Journal: ``eval_run``."""
        ...

    def score_variant(self, track_id: str, median: float, low: float, high: float) -> None:
        """Variant ``evaluating -> scored``. Journal: ``variant_status``."""
        ...

    def disqualify_variant(self, track_id: str, reason: str, *, check_passed: bool | None) -> None:
        """Variant disqualified with ``reason``; an active track is paused. Journal:
        ``variant_status``, ``track_status``."""
        ...

    def set_experiment_status(
        self, experiment_id: str, target: ExperimentStatus, reason: str
    ) -> None:
        """Move between running, evaluating and deciding. Journal: ``experiment_status``."""
        ...

    def decide_experiment(
        self, experiment_id: str, winner: str, decided_by: str, reason: str, close_call: str | None
    ) -> Experiment:
        """Commit the decision (before any merge): the experiment must be deciding and not
        decided, the winner a scored variant. Journal: ``experiment_decided``."""
        ...

    def land_experiment(
        self, experiment_id: str, merge_commit: str, adr: str | None, report: str
    ) -> None:
        """After the merge: experiment merged, winner's variant merged and track completed,
        other variants cancelled, originals ``blocked -> done`` at ``merge_commit``."""
        ...

    def end_experiment(
        self, experiment_id: str, target: ExperimentStatus, reason: str, report: str | None = None
    ) -> None:
        """Failed or cancelled: variants cancelled, active tracks paused, originals back to
        ready with ``reason``."""
        ...

    def close_variant_track(self, track_id: str, reason: str) -> None:
        """Walk a variant's track to cancelled (``paused -> cancelled`` for an active one)."""
        ...
