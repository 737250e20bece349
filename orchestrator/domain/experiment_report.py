"""The comparison report (``state/reports/``) and the ADR (``docs/decisions/``) of an
experiment, rendered from its record alone so a retried landing writes the same text.

Hypotheses and WO titles are user text: in tables their pipes and line breaks are escaped,
so a hypothesis can never add a row or a column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from orchestrator.domain.experiment import Direction, Experiment, Variant, VariantStatus

#: Where ADRs live in the project, and how they are numbered (``0001-name.md``).
ADR_DIR = "docs/decisions"
_ADR_NAME_RE = re.compile(r"^(\d{4})-.*\.md$")


def adr_path(number: int, experiment_name: str) -> str:
    return f"{ADR_DIR}/{number:04d}-{experiment_name}.md"


def next_adr_number(existing_names: Sequence[str]) -> int:
    """One more than the highest ``NNNN-`` prefix among the file names in docs/decisions."""
    numbers = [int(m.group(1)) for n in existing_names if (m := _ADR_NAME_RE.match(n))]
    return max(numbers, default=0) + 1


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") or "-"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _check(variant: Variant) -> str:
    if variant.check_passed is None:
        return "-"
    return "passed" if variant.check_passed else "failed"


def _variant_row(variant: Variant, winner: str | None) -> str:
    name = f"**{variant.track_id}** (winner)" if variant.track_id == winner else variant.track_id
    return (
        f"| {name} | {_cell(variant.hypothesis)} | {variant.status.value} | "
        f"{_num(variant.score)} | {_num(variant.score_min)} | {_num(variant.score_max)} | "
        f"{_check(variant)} | {variant.cost_usd:.4f} | {variant.tokens} | "
        f"{variant.duration_s:.1f} | {variant.files_changed} | "
        f"+{variant.lines_added}/-{variant.lines_deleted} | {_cell(variant.eval_error or '')} |"
    )


def render_report(experiment: Experiment, problem: Sequence[str], at: datetime) -> str:
    """The comparison: every variant with its numbers and raw runs, then the decision."""
    better = "higher" if experiment.direction is Direction.MAX else "lower"
    lines = [
        f"# Experiment {experiment.name}: comparison report",
        "",
        f"- written: {at:%Y-%m-%d %H:%M:%S} UTC; status: **{experiment.status.value}**",
        f"- project: {experiment.project_id}; base: {experiment.base_branch} at "
        f"{experiment.base_commit[:12]}",
        f"- evaluation: `{experiment.eval_command}`, {experiment.eval_runs} run(s) per "
        f"variant; metric `{experiment.metric}`, {better} is better",
        f"- decision: {experiment.decide.value}",
        "",
        "## Problem",
        "",
        *[f"- {_cell(p)}" for p in problem],
        "",
        "## Variants",
        "",
        "| variant | hypothesis | status | median | min | max | check | cost (USD) | tokens "
        "| duration (s) | files | lines | disqualified because |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *[_variant_row(v, experiment.winner_track_id) for v in experiment.variants],
        "",
        "## Evaluation runs",
        "",
    ]
    for variant in experiment.variants:
        runs = sorted(variant.runs, key=lambda r: (r.attempt, r.index))
        if not runs:
            lines.append(f"- {variant.track_id}: not evaluated")
            continue
        for run in runs:
            result = _num(run.score) if run.score is not None else f"no score ({run.error})"
            lines.append(
                f"- {variant.track_id} attempt {run.attempt} run {run.index} "
                f"(HEAD {run.head_sha[:12]}, exit {run.exit_code}, {run.duration_s:.2f} s): "
                f"{_cell(result)}"
            )
    lines += ["", "## Decision", ""]
    lines += decision_lines(experiment)
    return "\n".join(lines) + "\n"


def decision_lines(experiment: Experiment) -> list[str]:
    lines = []
    if experiment.close_call:
        lines += [experiment.close_call, ""]
    if experiment.winner_track_id:
        lines.append(
            f"Winner: **{experiment.winner_track_id}** (decided by {experiment.decided_by}). "
            f"Why: {_cell(experiment.decision_reason or '')}"
        )
    elif experiment.error:
        lines.append(f"No winner: {_cell(experiment.error)}")
    else:
        lines.append("No decision yet.")
    if experiment.merge_commit:
        lines.append("")
        lines.append(
            f"Merged into {experiment.base_branch} as {experiment.merge_commit[:12]}"
            + (f", with the ADR {experiment.adr_path}" if experiment.adr_path else "")
            + "."
        )
    losers = [v.track_id for v in experiment.variants if v.track_id != experiment.winner_track_id]
    if losers:
        lines.append("")
        lines.append(
            "Kept for reference (branches, snapshot refs, transcripts): "
            + ", ".join(f"tracks/{t}" for t in losers)
        )
    return lines


def render_adr(
    experiment: Experiment, number: int, problem: Sequence[str], report: str | None, day: str
) -> str:
    """An ADR in the usual shape: context, options, decision, consequences."""
    winner = experiment.variant(experiment.winner_track_id or "")
    better = "higher" if experiment.direction is Direction.MAX else "lower"
    options: list[str] = []
    for v in experiment.variants:
        if v.status is VariantStatus.DISQUALIFIED or v.eval_error:
            result = f"disqualified: {v.eval_error}"
        else:
            result = (
                f"{experiment.metric} median {_num(v.score)} "
                f"(runs {_num(v.score_min)}..{_num(v.score_max)}), "
                f"cost ${v.cost_usd:.4f}, {v.lines_changed} lines changed"
            )
        options.append(f"{len(options) + 1}. **{v.track_id}**: {_cell(v.hypothesis)} — {result}")
    losers = [v for v in experiment.variants if v.track_id != winner.track_id]
    lines = [
        f"# {number:04d}. {experiment.name}: {_cell(winner.hypothesis)}",
        "",
        "- Status: accepted",
        f"- Date: {day}",
        f"- Deciders: {experiment.decided_by} (orchestrator experiment {experiment.id})",
        "",
        "## Context",
        "",
        f"The problem, raced by {len(experiment.variants)} competing variants from "
        f"{experiment.base_branch} at {experiment.base_commit[:12]}:",
        "",
        *[f"- {_cell(p)}" for p in problem],
        "",
        f"Each variant was scored by `{experiment.eval_command}` "
        f"({experiment.eval_runs} run(s); metric `{experiment.metric}`, {better} is better).",
        "",
        "## Options",
        "",
        *options,
        "",
        "## Decision",
        "",
        f"We take **{winner.track_id}**: {_cell(winner.hypothesis)}.",
        "",
        _cell(experiment.decision_reason or ""),
    ]
    if experiment.close_call:
        lines += ["", _cell(experiment.close_call)]
    lines += [
        "",
        "## Consequences",
        "",
        f"- The work of {winner.track_id} is merged into {experiment.base_branch} with this "
        "record.",
    ]
    for v in losers:
        lines.append(
            f"- {v.track_id} is not merged; its work stays on branch tracks/{v.track_id} "
            "(and its last worktree state in a snapshot ref) if the question is reopened."
        )
    if report:
        lines.append(f"- The full comparison is in the orchestrator's report {report}.")
    return "\n".join(lines) + "\n"
