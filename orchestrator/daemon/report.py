"""The run report: what each track did, what failed and why, cost and time, as markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.daemon.report_facts import facts_lines, morning_facts
from orchestrator.domain.lifecycle import RunStatus, WOStatus
from orchestrator.domain.redaction import redact
from orchestrator.store.contract import Store


@dataclass(frozen=True)
class RunReport:
    path: Path
    summary: dict[str, Any]


def build_summary(store: Store, since: datetime, stop_reason: str) -> dict[str, Any]:
    events = store.status_moves_since(since, "wo_status")
    runs = store.runs_since(since)
    wos = store.wo_outcomes({e.subject_id for e in events})
    done = sorted({e.subject_id for e in events if e.to_status == WOStatus.DONE})
    failed = sorted({e.subject_id for e in events if e.to_status == WOStatus.FAILED})
    tracks: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.track_id is None:
            continue
        entry = tracks.setdefault(
            run.track_id, {"done": [], "failed": [], "cost_usd": 0.0, "runs": 0}
        )
        entry["cost_usd"] += run.cost_usd
        entry["runs"] += 1
        if run.wo_id in done and run.status is RunStatus.SUCCEEDED:
            entry["done"].append(run.wo_id)
        if (
            run.wo_id in failed
            and run.wo_id not in entry["failed"]
            and run.status is RunStatus.FAILED
        ):
            entry["failed"].append(run.wo_id)
    return {
        **morning_facts(store, since),
        "experiments": experiments_summary(store, since),
        "started_at": since.isoformat(),
        "ended_at": datetime.now(UTC).isoformat(),
        "duration_s": round((datetime.now(UTC) - since).total_seconds(), 1),
        "stop_reason": stop_reason,
        "cost_usd": round(sum(r.cost_usd for r in runs), 4),
        "runs": len(runs),
        "work_orders": {"done": len(done), "failed": len(failed)},
        "tracks": tracks,
        "failures": {w: (wos[w].last_error or "")[:800] for w in failed if w in wos},
        "titles": {w: wos[w].title for w in wos},
        "parked": [park.line() for park in store.parks_since(since)],
    }


def experiments_summary(store: Store, since: datetime) -> list[dict[str, Any]]:
    """Experiments in progress, and those that ended during this run."""
    from orchestrator.domain.experiment import OPEN_EXPERIMENT_STATUSES
    from orchestrator.domain.experiment_view import experiment_line

    chosen = []
    for experiment in store.list_experiments():
        ended = experiment.finished_at
        if ended is not None and ended.tzinfo is None:
            ended = ended.replace(tzinfo=UTC)
        if experiment.status in OPEN_EXPERIMENT_STATUSES or (ended and ended >= since):
            chosen.append({**experiment_line(experiment), "error": experiment.error})
    return chosen


def _experiment_lines(experiments: list[dict[str, Any]]) -> list[str]:
    if not experiments:
        return []
    lines = [
        "",
        "## Experiments",
        "",
        "| experiment | status | evaluated | winner | report |",
        "| --- | --- | --- | --- | --- |",
    ]
    for exp in experiments:
        winner = exp["winner"] or (f"none: {exp['error']}" if exp.get("error") else "-")
        lines.append(
            f"| {exp['id']} | {exp['status']} | {exp['settled']}/{exp['variants']} | "
            f"{winner} | {exp['report'] or '-'} |"
        )
    return lines


def render_report(summary: dict[str, Any], tracks: list[dict[str, Any]]) -> str:
    lines = [
        f"# Orchestrator run report — {summary['started_at'][:19]} UTC",
        "",
        f"- duration: {summary['duration_s']} s; stopped because: {summary['stop_reason']}",
        f"- work orders done: {summary['work_orders']['done']}, "
        f"failed: {summary['work_orders']['failed']}",
        f"- agent sessions: {summary['runs']}; cost: ${summary['cost_usd']:.4f}",
        f"- worker sandbox: {summary.get('sandbox') or 'not recorded'}",
        "",
        "## Tracks",
        "",
        "| track | status | done in this run | failed | progress | cost (USD) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for track in tracks:
        entry = summary["tracks"].get(track["id"], {"done": [], "failed": [], "cost_usd": 0.0})
        lines.append(
            f"| {track['id']} | {track['status']} | {len(entry['done'])} | "
            f"{len(entry['failed'])} | {track['done_count']}/{track['wo_count']} | "
            f"{entry['cost_usd']:.4f} |"
        )
    lines += _experiment_lines(summary.get("experiments", []))
    blocked = [t for t in tracks if t.get("blocked_reason") and t["status"] == "paused"]
    if blocked:
        lines += ["", "## Blocked tracks", ""]
        lines += [f"- **{t['id']}**: {t['blocked_reason']}" for t in blocked]
    if summary.get("parked"):
        lines += ["", "## Parked", ""]
        lines += [f"- {line}" for line in summary["parked"]]
    if summary["failures"]:
        lines += ["", "## Failed work orders", ""]
        for wo_id, error in summary["failures"].items():
            title = summary["titles"].get(wo_id, "")
            lines.append(f"### {wo_id}: {title}")
            lines += ["", "```", error.strip() or "(no error recorded)", "```", ""]
    lines += facts_lines(summary)
    lines += ["", "## Done", ""]
    for track_id, entry in summary["tracks"].items():
        for wo_id in entry["done"]:
            lines.append(f"- {wo_id} ({track_id}): {summary['titles'].get(wo_id, '')}")
    return "\n".join(lines) + "\n"


def write_report(
    store: Store, reports_dir: Path, since: datetime, reason: str, sandbox: str = ""
) -> RunReport:
    """Write the run's report; ``sandbox`` says how workers were confined (``sandbox_mode``)."""
    summary = build_summary(store, since, reason)
    summary["sandbox"] = sandbox
    text = render_report(summary, store.list_tracks())
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"run-{since:%Y%m%d-%H%M%S}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(redact(text), encoding="utf-8")
    tmp.replace(path)
    return RunReport(path=path, summary=summary)
