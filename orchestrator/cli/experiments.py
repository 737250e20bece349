"""``orch experiment``: race competing hypotheses, score them, merge the winner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.context import AppContext, emit_json
from orchestrator.cli.params import non_empty_path
from orchestrator.domain.errors import ValidationError

if TYPE_CHECKING:
    from orchestrator.domain.experiment import Experiment

app = typer.Typer(
    help="Experiments: competing hypotheses raced from one base commit, scored, one merged.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="Experiment id.")]


@app.command("start")
def start(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[FILE.md]",
            parser=non_empty_path,
            help="The experiment as a markdown file.",
        ),
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
    name: Annotated[str | None, typer.Option(help="Experiment name (a slug).")] = None,
    hypothesis: Annotated[
        list[str] | None, typer.Option("--hypothesis", help="One per variant (2 or more).")
    ] = None,
    eval_command: Annotated[
        str | None,
        typer.Option("--eval", help="Scores a variant; its last stdout line is the score."),
    ] = None,
    metric: Annotated[str, typer.Option(help="Key of the JSON result to read.")] = "score",
    direction: Annotated[str, typer.Option(help="max or min: which score is better.")] = "max",
    eval_runs: Annotated[int, typer.Option(help="Evaluation runs per variant.")] = 3,
    eval_timeout: Annotated[
        float | None, typer.Option(help="Seconds per evaluation run (default: the check's).")
    ] = None,
    wo: Annotated[
        list[str] | None, typer.Option("--wo", help="A work order of the problem.")
    ] = None,
    goal: Annotated[str, typer.Option(help="The problem as text (becomes one WO).")] = "",
    decide: Annotated[str, typer.Option(help="auto (by the scores) or manual.")] = "auto",
    budget_per_variant: Annotated[
        float | None, typer.Option(help="USD a variant may spend before it is disqualified.")
    ] = None,
) -> None:
    """Start an experiment: one track per hypothesis, each with its own copy of the problem."""
    from orchestrator.daemon.experiment_start import start_experiment
    from orchestrator.domain.experiment import DecideMode, Direction
    from orchestrator.domain.experiment_spec import (
        ExperimentSpec,
        HypothesisSpec,
        parse_experiment_file,
    )

    app_ctx: AppContext = ctx.obj
    if file is not None:
        if name or hypothesis or eval_command or wo or goal:
            raise ValidationError("give the experiment either as FILE.md or as options, not both")
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise ValidationError(f"{file}: cannot read: {exc.strerror}") from None
        try:
            spec = parse_experiment_file(raw)
        except ValidationError as exc:
            raise ValidationError(f"{file}: {exc}") from None
        if project is not None:
            from dataclasses import replace

            spec = replace(spec, project=project)
    else:
        spec = ExperimentSpec(
            name=name or "",
            hypotheses=tuple(HypothesisSpec(h) for h in hypothesis or []),
            eval_command=eval_command or "",
            project=project,
            metric=metric,
            direction=Direction.parse(direction),
            eval_runs=eval_runs,
            eval_timeout_s=eval_timeout,
            wo_ids=tuple(wo or []),
            goal=goal,
            decide=DecideMode.parse(decide),
            budget_per_variant_usd=budget_per_variant,
        )
        if not name:
            raise ValidationError("--name is required (or give FILE.md)")
    experiment = start_experiment(app_ctx.store, app_ctx.settings, spec)
    console = app_ctx.console
    console.print(
        f"Started experiment {experiment.id}: {len(experiment.variants)} variants from "
        f"{experiment.base_branch} at {experiment.base_commit[:12]}",
        markup=False,
    )
    for v in experiment.variants:
        console.print(f"  {v.track_id}: {v.hypothesis}", markup=False)
    console.print(
        f"Problem: {', '.join(experiment.original_wo_ids)}. "
        "`orch run` races the variants; `orch experiment show "
        f"{experiment.id}` follows it.",
        markup=False,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List experiments with their status and winner."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    rows = reads.experiment_list(app_ctx.store, project)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("experiment", "project", "status", "evaluated", "winner"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["project"],
            row["status"],
            f"{row['settled']}/{row['variants']}",
            row["winner"] or "-",
        )
    app_ctx.console.print(table)


@app.command("show")
def show(ctx: typer.Context, experiment_id: IdArg, as_json: JsonOption = False) -> None:
    """Show one experiment: every variant's scores, the decision, the report and the ADR."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    data = reads.experiment_show(app_ctx.store, experiment_id)
    if as_json:
        emit_json(data)
        return
    _print_experiment(app_ctx, data)


def _print_experiment(app_ctx: AppContext, data: dict[str, Any]) -> None:
    from rich.table import Table

    console = app_ctx.console
    console.print(f"experiment {data['id']} ({data['project']}): {data['status']}", markup=False)
    console.print(
        f"  base {data['base_branch']} at {data['base_commit'][:12]}; eval `{data['eval_command']}`"
        f" x{data['eval_runs']}; metric {data['metric']} ({data['direction']}); "
        f"decide {data['decide']}",
        markup=False,
    )
    table = Table()
    for column in ("variant", "status", "median", "runs", "cost", "lines", "hypothesis / why out"):
        table.add_column(column)
    for v in data["variants"]:
        runs = ", ".join(f"{s:g}" for s in v["scores"]) or "-"
        median = "-" if v["score"] is None else f"{v['score']:g}"
        text = v["hypothesis"] + (f"  [{v['eval_error']}]" if v["eval_error"] else "")
        mark = " *" if v["track"] == data["winner"] else ""
        table.add_row(
            v["track"] + mark,
            v["status"],
            median,
            runs,
            f"${v['cost_usd']:.4f}",
            str(v["lines_changed"]),
            text,
        )
    console.print(table)
    for key in ("winner", "decided_by", "decision_reason", "close_call", "merge_commit"):
        if data[key]:
            console.print(f"  {key}: {data[key]}", markup=False)
    for key in ("report", "adr", "error"):
        if data[key]:
            console.print(f"  {key}: {data[key]}", markup=False)


def _daemon_live(app_ctx: AppContext) -> bool:
    store = app_ctx.store
    return store.lease_is_live(store.current_lease())


def _log() -> Any:
    import structlog

    return structlog.get_logger("orchestrator.cli")


@app.command("decide")
def decide(
    ctx: typer.Context,
    experiment_id: IdArg,
    winner: Annotated[
        str | None, typer.Option(help="The winning variant's track (default: the rule's pick).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the ADR and the report).")] = "",
) -> None:
    """Decide a deciding experiment; without a daemon running, land the winner at once."""
    from orchestrator.service.actions import decide_experiment

    app_ctx: AppContext = ctx.obj
    decision = decide_experiment(
        app_ctx.store, app_ctx.settings, experiment_id, winner, reason, _log()
    )
    if decision.landed is None:
        app_ctx.console.print(
            f"Decided: {decision.winner} wins {decision.experiment_id}; "
            "the running daemon merges it."
        )
        return
    _say_landed(app_ctx, decision.landed)


def _say_landed(app_ctx: AppContext, experiment: Experiment) -> None:
    console = app_ctx.console
    if experiment.merge_commit:
        console.print(
            f"{experiment.winner_track_id} won {experiment.id}: merged into "
            f"{experiment.base_branch} as {experiment.merge_commit[:12]}"
            + (f" with {experiment.adr_path}" if experiment.adr_path else ""),
            markup=False,
        )
        console.print(f"Report: {experiment.report_path}", markup=False)
    else:
        track = app_ctx.store.get_track(experiment.winner_track_id or "")
        console.print(
            f"Decided for {track.id}, but its merge is blocked: {track.blocked_reason}",
            markup=False,
        )


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    experiment_id: IdArg,
    reason: Annotated[str, typer.Option(help="Why (kept in the report).")] = "",
) -> None:
    """Cancel an experiment: nothing is merged; variants' branches are kept."""
    from orchestrator.daemon.experiment_landing import end
    from orchestrator.domain.experiment import OPEN_EXPERIMENT_STATUSES, ExperimentStatus

    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    experiment = store.get_experiment(experiment_id)
    if experiment.status not in OPEN_EXPERIMENT_STATUSES:
        raise ValidationError(f"experiment {experiment.id} is {experiment.status.value} already")
    if experiment.winner_track_id is not None:
        raise ValidationError(
            f"experiment {experiment.id} is decided ({experiment.winner_track_id} won) and "
            "its merge is under way"
        )
    live = _daemon_live(app_ctx)
    ended = end(
        store,
        app_ctx.settings,
        experiment.id,
        ExperimentStatus.CANCELLED,
        reason or "cancelled by hand",
        _log(),
        clean=not live,
    )
    app_ctx.console.print(
        f"Experiment {ended.id} is cancelled; branches kept"
        + ("; the running daemon removes the worktrees." if live else "."),
        markup=False,
    )
    app_ctx.console.print(f"Report: {ended.report_path}", markup=False)
