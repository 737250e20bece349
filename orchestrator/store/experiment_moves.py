"""Experiment status moves, each one transaction with its journal entries.

The landing is split so that every side effect (merge, report, worktree removal) happens
between two commits of state: the decision is committed before the merge, and the merge is
recorded (with the originals done, the winner completed, the losers cancelled) after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.experiment import (
    EvalRun,
    Experiment,
    ExperimentStatus,
    VariantStatus,
    check_experiment_transition,
)
from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.track import Track
from orchestrator.store.domain_rows import track_of
from orchestrator.store.experiment_starts import ExperimentStarts
from orchestrator.store.locks import locked_row
from orchestrator.store.tables import (
    EvalRunRow,
    ExperimentRow,
    ExperimentVariantRow,
    ExperimentWORow,
    utcnow,
)

#: The walk each live track status takes to ``cancelled`` (one transaction).
_TO_CANCELLED: dict[TrackStatus, tuple[TrackStatus, ...]] = {
    TrackStatus.DRAFT: (TrackStatus.CANCELLED,),
    TrackStatus.READY: (TrackStatus.FAILED, TrackStatus.CANCELLED),
    TrackStatus.ACTIVE: (TrackStatus.PAUSED, TrackStatus.CANCELLED),
    TrackStatus.PAUSED: (TrackStatus.CANCELLED,),
    TrackStatus.FAILED: (TrackStatus.CANCELLED,),
}


class ExperimentMoves(ExperimentStarts):
    # Both read only in write transactions, to change the row: locked (store.locks).
    def _experiment_row(self, session: Session, experiment_id: str) -> ExperimentRow:
        row = locked_row(session, ExperimentRow, experiment_id)
        if row is None:
            raise NotFoundError(f"unknown experiment {experiment_id!r}")
        return row

    def _variant_row(self, session: Session, track_id: str) -> ExperimentVariantRow:
        row = locked_row(session, ExperimentVariantRow, track_id)
        if row is None:
            raise NotFoundError(f"track {track_id!r} is no experiment variant")
        return row

    def _move_experiment(
        self,
        session: Session,
        row: ExperimentRow,
        target: ExperimentStatus,
        reason: str,
        **fields: Any,
    ) -> None:
        current = ExperimentStatus(row.status)
        check_experiment_transition(row.id, current, target)
        row.status = target.value
        row.updated_at = utcnow()
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)
        self.journal(
            session,
            "experiment_status",
            "experiment",
            row.id,
            from_status=current.value,
            to_status=target.value,
            reason=reason,
        )

    def _move_variant(
        self,
        session: Session,
        row: ExperimentVariantRow,
        target: VariantStatus,
        reason: str,
        **fields: Any,
    ) -> None:
        current = VariantStatus(row.status)
        check_experiment_transition(row.track_id, current, target)
        row.status = target.value
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)
        self.journal(
            session,
            "variant_status",
            "track",
            row.track_id,
            from_status=current.value,
            to_status=target.value,
            reason=reason,
            experiment=row.experiment_id,
        )

    def set_experiment_status(
        self, experiment_id: str, target: ExperimentStatus, reason: str
    ) -> None:
        with self.writing() as session:
            row = self._experiment_row(session, experiment_id)
            if row.status != target.value:
                self._move_experiment(session, row, target, reason)

    # -- variants ----------------------------------------------------------------------------

    def start_evaluation(self, track_id: str, head: str, **facts: Any) -> int:
        """The variant is being evaluated at ``head``: returns the attempt. A HEAD other
        than the last attempt's starts a new attempt (its runs belong to another commit);
        the same HEAD resumes the attempt, keeping the runs already recorded."""
        with self.writing() as session:
            row = self._variant_row(session, track_id)
            if row.status == VariantStatus.RUNNING.value:
                self._move_variant(session, row, VariantStatus.EVALUATING, "work orders done")
            if row.eval_head != head or row.eval_attempt == 0:
                row.eval_attempt += 1
                row.eval_head = head
            for name, value in facts.items():
                setattr(row, name, value)
            session.add(row)
            return row.eval_attempt

    def record_eval_run(self, experiment_id: str, run: EvalRun) -> bool:
        """Store one evaluation run; False (and nothing written) when that run of that
        attempt is recorded already."""
        with self.writing() as session:
            exists = session.exec(
                select(EvalRunRow.id).where(
                    EvalRunRow.track_id == run.track_id,
                    EvalRunRow.attempt == run.attempt,
                    EvalRunRow.run_index == run.index,
                )
            ).first()
            if exists is not None:
                return False
            session.add(
                EvalRunRow(
                    experiment_id=experiment_id,
                    track_id=run.track_id,
                    attempt=run.attempt,
                    run_index=run.index,
                    head_sha=run.head_sha,
                    exit_code=run.exit_code,
                    score=run.score,
                    error=run.error,
                    output_tail=run.output_tail,
                    duration_s=run.duration_s,
                    timed_out=run.timed_out,
                )
            )
            self.journal(
                session,
                "eval_run",
                "track",
                run.track_id,
                experiment=experiment_id,
                attempt=run.attempt,
                index=run.index,
                score=run.score,
                error=run.error,
            )
            return True

    def score_variant(self, track_id: str, median: float, low: float, high: float) -> None:
        with self.writing() as session:
            row = self._variant_row(session, track_id)
            self._move_variant(
                session,
                row,
                VariantStatus.SCORED,
                f"median {median:g}",
                score=median,
                score_min=low,
                score_max=high,
                eval_error=None,
                check_passed=True,
            )

    def disqualify_variant(self, track_id: str, reason: str, *, check_passed: bool | None) -> None:
        """Disqualify the variant and pause its track (it gets no more slots)."""
        with self.writing() as session:
            row = self._variant_row(session, track_id)
            self._move_variant(
                session,
                row,
                VariantStatus.DISQUALIFIED,
                reason,
                eval_error=reason[:2000],
                check_passed=check_passed,
            )
            track = self.get_track_row(session, track_id)
            if track.status == TrackStatus.ACTIVE.value:
                self.move_track(
                    session,
                    track_id,
                    TrackStatus.PAUSED,
                    reason=f"disqualified: {reason}"[:2000],
                    blocked_reason=f"experiment variant disqualified: {reason}"[:2000],
                )

    def activate_variant_track(self, track_id: str, worktree: str) -> Track:
        """``draft -> ready -> active`` (with its worktree path) in one transaction."""
        with self.writing() as session:
            track = self.get_track_row(session, track_id)
            reason = "experiment variant started"
            if track.status == TrackStatus.DRAFT.value:
                self.move_track(session, track_id, TrackStatus.READY, reason=reason)
            active = self.move_track(
                session, track_id, TrackStatus.ACTIVE, reason=reason, worktree_path=worktree
            )
            return track_of(active)

    def close_variant_track(self, track_id: str, reason: str) -> None:
        """Walk a variant's track to ``cancelled`` (branch kept), in one transaction."""
        with self.writing() as session:
            track = self.get_track_row(session, track_id)
            for target in _TO_CANCELLED.get(TrackStatus(track.status), ()):
                self.move_track(session, track_id, target, reason=reason)

    # -- the decision and its landing --------------------------------------------------------

    def decide_experiment(
        self, experiment_id: str, winner: str, decided_by: str, reason: str, close_call: str | None
    ) -> Experiment:
        """Commit the decision (the experiment must be deciding, the winner scored)."""
        with self.writing() as session:
            row = self._experiment_row(session, experiment_id)
            if row.status != ExperimentStatus.DECIDING.value:
                raise ValidationError(
                    f"experiment {experiment_id} is {row.status}: only a deciding experiment "
                    "takes a decision"
                )
            if row.winner_track_id is not None:
                raise ValidationError(
                    f"experiment {experiment_id} is decided already: {row.winner_track_id} won"
                )
            variant = session.get(ExperimentVariantRow, winner)
            if variant is None or variant.experiment_id != experiment_id:
                raise ValidationError(f"{winner!r} is not a variant of experiment {experiment_id}")
            if variant.status != VariantStatus.SCORED.value:
                raise ValidationError(
                    f"{winner} cannot win: it is {variant.status}"
                    + (f" ({variant.eval_error})" if variant.eval_error else "")
                )
            row.winner_track_id = winner
            row.decided_by = decided_by
            row.decision_reason = reason[:4000]
            row.close_call = close_call
            row.decided_at = utcnow()
            session.add(row)
            self.journal(
                session,
                "experiment_decided",
                "experiment",
                experiment_id,
                winner=winner,
                decided_by=decided_by,
                reason=reason[:2000],
            )
        return self.get_experiment(experiment_id)

    def note_close_call(self, experiment_id: str, close_call: str | None) -> None:
        with self.writing() as session:
            row = self._experiment_row(session, experiment_id)
            row.close_call = close_call
            session.add(row)

    def land_experiment(
        self, experiment_id: str, merge_commit: str, adr: str | None, report: str
    ) -> None:
        """The winner is merged: record it with every consequence in one transaction."""
        with self.writing() as session:
            row = self._experiment_row(session, experiment_id)
            winner = row.winner_track_id or ""
            self._move_experiment(
                session,
                row,
                ExperimentStatus.MERGED,
                f"{winner} merged as {merge_commit[:12]}",
                merge_commit=merge_commit,
                adr_path=adr,
                report_path=report,
                finished_at=utcnow(),
            )
            for variant in self._variants(session, experiment_id):
                if variant.track_id == winner:
                    self._move_variant(session, variant, VariantStatus.MERGED, "won")
                elif variant.status != VariantStatus.CANCELLED.value:
                    self._move_variant(
                        session, variant, VariantStatus.CANCELLED, f"lost to {winner}"
                    )
            track = self.get_track_row(session, winner)
            if track.status == TrackStatus.PAUSED.value:
                self.move_track(session, winner, TrackStatus.ACTIVE, reason="won")
            if track.status != TrackStatus.COMPLETED.value:
                self.move_track(
                    session,
                    winner,
                    TrackStatus.COMPLETED,
                    reason=f"won experiment {experiment_id}",
                    merged_commit=merge_commit,
                )
            for wo_id in self._originals(session, experiment_id):
                wo = self.get_wo_row(session, wo_id)
                if wo.status == WOStatus.BLOCKED.value:
                    self.set_wo_status(
                        wo_id,
                        WOStatus.DONE,
                        reason=f"done by {winner}, the winner of experiment {experiment_id}",
                        session=session,
                        done_commit=merge_commit,
                        last_error=None,
                    )

    def end_experiment(
        self, experiment_id: str, target: ExperimentStatus, reason: str, report: str | None = None
    ) -> None:
        """Fail or cancel: no winner; variants cancelled; active variant tracks paused (so
        nothing new starts; the cleanup cancels them); the originals back in line."""
        with self.writing() as session:
            row = self._experiment_row(session, experiment_id)
            self._move_experiment(
                session,
                row,
                target,
                reason,
                error=reason[:4000],
                report_path=report,
                finished_at=utcnow(),
            )
            for variant in self._variants(session, experiment_id):
                if variant.status != VariantStatus.CANCELLED.value:
                    self._move_variant(session, variant, VariantStatus.CANCELLED, reason)
                track = self.get_track_row(session, variant.track_id)
                if track.status == TrackStatus.ACTIVE.value:
                    self.move_track(session, variant.track_id, TrackStatus.PAUSED, reason=reason)
            for wo_id in self._originals(session, experiment_id):
                wo = self.get_wo_row(session, wo_id)
                if wo.status == WOStatus.BLOCKED.value:
                    self.set_wo_status(
                        wo_id,
                        WOStatus.READY,
                        reason=f"experiment {experiment_id} {target.value}: {reason}",
                        session=session,
                        last_error=f"experiment {experiment_id} {target.value}: {reason}"[:4000],
                    )

    def set_report_path(self, experiment_id: str, report: str) -> None:
        with self.writing() as session:
            row = self._experiment_row(session, experiment_id)
            row.report_path = report
            session.add(row)

    def _variants(self, session: Session, experiment_id: str) -> Sequence[ExperimentVariantRow]:
        return list(
            session.exec(
                select(ExperimentVariantRow)
                .where(ExperimentVariantRow.experiment_id == experiment_id)
                .order_by(col(ExperimentVariantRow.position))
            )
        )

    def _originals(self, session: Session, experiment_id: str) -> list[str]:
        return list(
            session.exec(
                select(ExperimentWORow.wo_id).where(
                    ExperimentWORow.experiment_id == experiment_id,
                    ExperimentWORow.role == "original",
                )
            )
        )
