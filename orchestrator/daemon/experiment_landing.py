"""Landing an experiment (winner merged with its ADR), failing it, and cleaning up losers.

Synchronous and idempotent, so the daemon, ``orch recover`` and the CLI (``orch experiment
decide`` / ``cancel`` without a daemon) all use the same functions. Order of effects:

1. the decision is committed (``decide_experiment``) before anything touches git;
2. the winner's branch is merged into the base through the normal merge path (computed off
   to the side, published by fast-forward or compare-and-swap, never forced), with the ADR
   in the merge commit itself. A branch already merged is not merged again, and the ADR
   is then found in the merge commit that added it;
3. the comparison report is written (atomically) under ``state/reports/``;
4. one transaction records the merge: experiment merged, winner completed, originals done,
   losing variants cancelled;
5. each loser's track is cancelled and its worktree removed, its files kept in a snapshot
   ref (``refs/orchestrator/checkpoints/<track>/0``); its branch and transcripts stay.

A kill between any two steps is repaired by running the next one again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.config import Settings
from orchestrator.daemon.exchange import bring_up_to_date, merge_base
from orchestrator.domain.errors import GitError, MergeConflictError
from orchestrator.domain.experiment import Experiment, ExperimentStatus
from orchestrator.domain.experiment_report import (
    ADR_DIR,
    adr_path,
    next_adr_number,
    render_adr,
    render_report,
)
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.redaction import redact
from orchestrator.git.names import checkpoint_ref
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store

#: The trailer that ties a merge commit to its experiment.
EXPERIMENT_TRAILER = "Orchestrator-Experiment"


def report_file(settings: Settings, experiment_id: str) -> Path:
    return settings.reports_dir / f"experiment-{experiment_id}.md"


def _problem(store: Store, experiment_id: str) -> list[str]:
    return [f"{wo.id}: {wo.title}" for wo in store.experiment_problem(experiment_id)]


def write_report(store: Store, settings: Settings, experiment: Experiment) -> str:
    path = report_file(settings, experiment.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(experiment, _problem(store, experiment.id), datetime.now(UTC))
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(redact(text), encoding="utf-8")
    tmp.replace(path)
    return str(path)


def merge_message(experiment: Experiment) -> str:
    winner = experiment.variant(experiment.winner_track_id or "")
    return (
        f"Merge experiment {experiment.id}: {winner.track_id} won\n\n"
        f"Hypothesis: {' '.join(winner.hypothesis.split())[:500]}\n\n"
        f"{EXPERIMENT_TRAILER}: {experiment.id}\n"
    )


def land(store: Store, settings: Settings, experiment_id: str, log: Any) -> Experiment:
    """Merge the decided winner with its ADR and record it (steps 2-5); idempotent.

    A conflict (or a base checkout that cannot fast-forward) blocks the winner's track
    like any track's merge: paused with the reason, the base branch untouched, the
    experiment still deciding with its winner; ``orch track resume`` tries again.
    """
    experiment = store.get_experiment(experiment_id)
    if experiment.status is not ExperimentStatus.DECIDING or not experiment.winner_track_id:
        return experiment
    track = store.get_track(experiment.winner_track_id)
    project = store.get_project(experiment.project_id)
    repo = GitRepo(project.path)
    base = experiment.base_branch
    report = str(report_file(settings, experiment.id))
    try:
        bring_up_to_date(store, repo, project.id, [base, track.branch])
        tip = repo.head(track.branch)
        merge = repo.merge_of(base, tip) if repo.is_merged(tip, base) else None
        if merge is None and repo.is_merged(tip, base):
            merge = repo.head(base)  # contained some other way (a fast-forward by hand)
        if merge is None:
            number = next_adr_number(repo.list_dir(base, ADR_DIR))
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            decided = replace(experiment, merge_commit=None)
            text = render_adr(decided, number, _problem(store, experiment.id), report, day)
            merge = merge_base(
                store,
                repo,
                project.id,
                base,
                track.branch,
                merge_message(experiment),
                add_files={adr_path(number, experiment.name): text},
            )
    except (MergeConflictError, GitError) as exc:
        detail = (
            "merge conflict in: " + ", ".join(exc.files)
            if isinstance(exc, MergeConflictError)
            else f"merge failed: {exc}"
        )
        if track.status == TrackStatus.ACTIVE.value:
            store.set_track_status(
                track.id, TrackStatus.PAUSED, reason=detail, blocked_reason=detail
            )
        log.warning("experiment_merge_blocked", experiment=experiment.id, reason=detail)
        return store.get_experiment(experiment.id)
    try:
        added = repo.added_files(merge, ADR_DIR)
    except GitError:
        added = []  # a root commit: no ADR was added by it
    adr = next((p for p in added if p.endswith(f"-{experiment.name}.md")), None)
    final = replace(
        experiment,
        status=ExperimentStatus.MERGED,
        merge_commit=merge,
        adr_path=adr,
        report_path=report,
    )
    write_report(store, settings, final)
    store.land_experiment(experiment.id, merge, adr, report)
    log.info("experiment_merged", experiment=experiment.id, winner=track.id, commit=merge)
    landed = store.get_experiment(experiment.id)
    cleanup(store, landed, log)
    return landed


def end(
    store: Store,
    settings: Settings,
    experiment_id: str,
    target: ExperimentStatus,
    reason: str,
    log: Any,
    *,
    clean: bool = True,
) -> Experiment:
    """Fail or cancel the experiment (nothing merged), write its report, clean up."""
    experiment = store.get_experiment(experiment_id)
    report = str(report_file(settings, experiment.id))
    final = replace(experiment, status=target, error=reason, report_path=report)
    write_report(store, settings, final)
    store.end_experiment(experiment.id, target, reason, report)
    log.info("experiment_ended", experiment=experiment.id, status=target.value, reason=reason)
    ended = store.get_experiment(experiment.id)
    if clean:
        cleanup(store, ended, log)
    return ended


def cleanup(store: Store, experiment: Experiment, log: Any) -> None:
    """Cancel every variant track except the winner's and remove its worktree; skips a
    track with a live run (the next round finishes it)."""
    busy = {r.track_id for r in store.live_runs()}
    for variant in experiment.variants:
        if variant.track_id == experiment.winner_track_id or variant.track_id in busy:
            continue
        try:
            cleanup_variant(store, variant.track_id, f"experiment {experiment.id} ended")
        except GitError as exc:
            log.error("variant_cleanup_failed", track_id=variant.track_id, error=str(exc))


def cleanup_variant(store: Store, track_id: str, reason: str) -> None:
    """Track ``cancelled`` (committed first: recovery never re-creates a cancelled track's
    worktree), then the worktree kept in a snapshot ref and removed; the branch stays."""
    store.close_variant_track(track_id, reason)
    track = store.get_track(track_id)
    if not track.worktree_path:
        return
    project = store.get_project(track.project_id)
    repo = GitRepo(project.path)
    path = Path(track.worktree_path)
    ref = checkpoint_ref(track_id, 0)
    if path.is_dir() and repo.find_worktree(path) is not None:
        repo.snapshot(path, ref, f"orchestrator: {track_id} when its experiment ended")
    repo.remove_worktree(path, snapshot_ref=ref)
    store.update_track(track_id, worktree_path=None)
