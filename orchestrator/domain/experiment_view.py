"""The stable JSON shape of an experiment (``orch experiment show --json``, the run report,
``orch status``, the dashboard's API): one function, so every surface says the same."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.experiment import Experiment, Variant

#: Tracks' branches are ``tracks/<track id>`` (see ``git.names.track_branch``).
_BRANCH_PREFIX = "tracks/"


def variant_view(variant: Variant) -> dict[str, Any]:
    return {
        "track": variant.track_id,
        "hypothesis": variant.hypothesis,
        "status": variant.status.value,
        "branch": _BRANCH_PREFIX + variant.track_id,
        "score": variant.score,
        "scores": variant.scores,
        "score_min": variant.score_min,
        "score_max": variant.score_max,
        "eval_error": variant.eval_error,
        "check_passed": variant.check_passed,
        "cost_usd": round(variant.cost_usd, 6),
        "tokens": variant.tokens,
        "duration_s": variant.duration_s,
        "files_changed": variant.files_changed,
        "lines_changed": variant.lines_changed,
        "eval_runs": [
            {
                "attempt": r.attempt,
                "index": r.index,
                "head": r.head_sha,
                "exit_code": r.exit_code,
                "score": r.score,
                "error": r.error,
                "timed_out": r.timed_out,
                "duration_s": r.duration_s,
            }
            for r in sorted(variant.runs, key=lambda r: (r.attempt, r.index))
        ],
    }


def experiment_view(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": experiment.id,
        "name": experiment.name,
        "project": experiment.project_id,
        "status": experiment.status.value,
        "base_branch": experiment.base_branch,
        "base_commit": experiment.base_commit,
        "goal": experiment.goal,
        "originals": list(experiment.original_wo_ids),
        "eval_command": experiment.eval_command,
        "eval_runs": experiment.eval_runs,
        "metric": experiment.metric,
        "direction": experiment.direction.value,
        "decide": experiment.decide.value,
        "variants": [variant_view(v) for v in experiment.variants],
        "winner": experiment.winner_track_id,
        "decided_by": experiment.decided_by,
        "decision_reason": experiment.decision_reason,
        "close_call": experiment.close_call,
        "merge_commit": experiment.merge_commit,
        "report": experiment.report_path,
        "adr": experiment.adr_path,
        "error": experiment.error,
    }


def experiment_line(experiment: Experiment) -> dict[str, Any]:
    """The short form for lists: ``orch experiment list``, ``orch status``."""
    return {
        "id": experiment.id,
        "name": experiment.name,
        "project": experiment.project_id,
        "status": experiment.status.value,
        "variants": len(experiment.variants),
        "settled": sum(
            1 for v in experiment.variants if v.status.value not in ("running", "evaluating")
        ),
        "winner": experiment.winner_track_id,
        "report": experiment.report_path,
    }
