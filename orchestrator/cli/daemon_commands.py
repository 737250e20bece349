"""Commands that start agents or watch them: run, stop, recover, logs, demo, sim serve."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.context import AppContext, emit_json, make_directory
from orchestrator.cli.params import non_empty_path
from orchestrator.config import Settings, check_environment, with_overrides
from orchestrator.domain.errors import UserInputError, ValidationError

BackendOption = Annotated[
    str | None,
    typer.Option("--model-backend", help="claude (your login) or sim (offline simulator)."),
]


def _settings(app_ctx: AppContext, backend: str | None) -> Settings:
    settings = app_ctx.settings
    if backend is not None:
        if backend not in {"claude", "sim"}:
            raise ValidationError(f"--model-backend must be claude or sim, not {backend!r}")
        settings = with_overrides(settings, "model", backend=backend)
    return settings


def _logging(settings: Settings) -> None:
    from orchestrator.log import configure_logging

    make_directory(settings.logs_dir, "log directory")
    configure_logging(
        settings.logs_dir,
        settings.logging.level,
        settings.logging.secret_env_vars,
        secrets=settings.secrets,
    )


def run(
    ctx: typer.Context,
    until: Annotated[str | None, typer.Option(help="Stop at this local time, HH:MM.")] = None,
    budget: Annotated[
        float | None, typer.Option(min=0, max=1_000_000, help="Cost cap of this run, USD.")
    ] = None,
    max_agents: Annotated[
        int | None, typer.Option(min=1, max=256, help="Agents at once (1-256).")
    ] = None,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Stop when no work can start.")
    ] = False,
    model_backend: BackendOption = None,
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Serve the dashboard beside the daemon.")
    ] = False,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="The dashboard's port on 127.0.0.1.")
    ] = 8765,
) -> None:
    """Run the daemon in the foreground until --until, --budget, idleness or `orch stop`.

    Exit status: 0 when every work order it started is done (or back in line after a stop),
    3 when work orders failed or tracks were blocked during the run, or the run was parked
    (the last line names them; the report says why), 2 for bad input.
    """
    import anyio

    from orchestrator.daemon.context import RunOptions
    from orchestrator.daemon.report_facts import run_exit_status
    from orchestrator.daemon.runner import run_daemon
    from orchestrator.domain.clock import next_time_of_day

    app_ctx: AppContext = ctx.obj
    settings = _settings(app_ctx, model_backend)
    deadline = None
    if until is not None:
        deadline = next_time_of_day(until, datetime.now().astimezone()).astimezone(UTC)
    options = RunOptions(
        until=deadline,
        budget_usd=budget if budget is not None else (settings.limits.budget_per_run_usd or None),
        max_agents=max_agents or settings.daemon.max_agents,
        exit_when_idle=exit_when_idle,
    )
    store = app_ctx.store
    # The dashboard binds its port first: a port in use is refused before the log is written.
    with _dashboard_beside(app_ctx, settings, dashboard, port):
        _logging(settings)
        report = anyio.run(run_daemon, settings, store, options)
    summary = report.summary
    status, attention = run_exit_status(summary)
    app_ctx.console.print(
        f"Run ended ({summary['stop_reason']}): {summary['work_orders']['done']} done, "
        f"{summary['work_orders']['failed']} failed, ${summary['cost_usd']:.4f}",
        markup=False,
    )
    app_ctx.console.print(f"Report: {report.path}", markup=False)
    if status:
        app_ctx.console.print(
            f"Needs attention ({attention}): read the report, then `orch wo retry` what "
            "failed and `orch track resume` what was blocked",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(status)


def _dashboard_beside(
    app_ctx: AppContext, settings: Settings, wanted: bool, port: int
) -> contextlib.AbstractContextManager[None]:
    if not wanted:
        return contextlib.nullcontext()
    from orchestrator.web.serve import serving_beside

    def announce(url: str) -> None:
        app_ctx.console.print(f"Dashboard: {url}", markup=False, soft_wrap=True)

    return serving_beside(settings, "127.0.0.1", port, None, announce)


def stop(ctx: typer.Context) -> None:
    """Ask the running daemon to stop gracefully (it checkpoints and exits)."""
    app_ctx: AppContext = ctx.obj
    lease = app_ctx.store.request_stop()
    if lease is None:
        app_ctx.console.print("No daemon is running on this home.")
        return
    app_ctx.console.print(f"Asked the daemon (pid {lease.pid}) to stop.")


def recover(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be done.")
    ] = False,
    run_id: Annotated[str | None, typer.Option("--run", help="Recover only this run.")] = None,
    track: Annotated[str | None, typer.Option("--track", help="Recover only this track.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    model_backend: BackendOption = None,
) -> None:
    """Find interrupted sessions, repair worktrees, and resume the sessions to their end."""
    import anyio

    from orchestrator.daemon.context import RunOptions
    from orchestrator.daemon.recovery import interrupted_runs, plan_run
    from orchestrator.daemon.runner import run_recover

    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    if run_id is not None:
        store.get_run(run_id)
    if track is not None:
        store.get_track(track)
    lease = store.current_lease()
    if store.lease_is_live(lease) and lease is not None:
        raise UserInputError(
            f"a daemon (pid {lease.pid}) is running on this home; it recovers on its own "
            "(stop it first with `orch stop` to recover by hand)"
        )
    if dry_run or (as_json and dry_run):
        plans = [
            plan_run(store, r).__dict__
            for r in interrupted_runs(store, None)
            if (run_id is None or r.id == run_id) and (track is None or r.track_id == track)
        ]
        if as_json:
            emit_json(plans)
            return
        for plan in plans:
            app_ctx.console.print(
                f"{plan['run_id']}  track={plan['track']}  wo={plan['wo']}  -> {plan['action']}",
                markup=False,
            )
        app_ctx.console.print(f"{len(plans)} interrupted runs")
        return
    settings = _settings(app_ctx, model_backend)
    _logging(settings)
    options = RunOptions(max_agents=settings.daemon.max_agents)
    actions, report = anyio.run(
        lambda: run_recover(settings, store, options, only_run=run_id, only_track=track)
    )
    if as_json:
        emit_json(actions)
        return
    for action in actions:
        app_ctx.console.print(f"{action['run_id']}: {action['action']}", markup=False)
    app_ctx.console.print(f"Recovered {len(actions)} interrupted runs.")
    if report is not None:
        app_ctx.console.print(f"Report: {report.path}")


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--dir", parser=non_empty_path, help="Where to create it.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    no_run: Annotated[bool, typer.Option("--no-run", help="Set up only, do not run.")] = False,
) -> None:
    """Create a sample project, backlog and tracks, and run them with the simulator."""
    import anyio

    from orchestrator.daemon.context import RunOptions
    from orchestrator.daemon.runner import run_daemon
    from orchestrator.demo import demo_summary, setup_demo
    from orchestrator.store.sqlite_store import open_store

    app_ctx: AppContext = ctx.obj
    check_environment()  # before anything is created
    if directory is not None:
        make_directory(directory, "demo directory")
    setup = setup_demo(directory)
    report = None
    if not no_run:
        settings = with_overrides(setup.settings, "model", backend="sim")
        _logging(settings)
        store = open_store(settings.store_url)
        options = RunOptions(max_agents=settings.daemon.max_agents, exit_when_idle=True)
        ticker = None if as_json else _progress_ticker(app_ctx)
        try:
            report = anyio.run(run_daemon, settings, store, options, ticker)
        finally:
            store.close()
    summary = demo_summary(setup, report)
    if as_json:
        emit_json(summary)
        return
    console = app_ctx.console
    wos = summary["work_orders"]
    console.print(f"Demo project: {summary['project_dir']}")
    console.print(f"State home:   {summary['home']}  (export ORCH_HOME={summary['home']})")
    if no_run:
        console.print("Set up only. Run it with: orch run --model-backend sim --exit-when-idle")
        return
    console.print(
        f"Work orders: {wos['done']}/{wos['total']} done, {wos['failed']} failed; "
        f"cost ${summary['cost_usd']:.4f}; {summary['duration_s']} s"
    )
    console.print(f"Report: {summary['report']}")
    experiment = summary["experiment"]
    if experiment is not None:
        scores = ", ".join(
            f"{v['track']} {v['score']:.4g}" if v["score"] is not None else v["track"]
            for v in experiment["variants"]
        )
        console.print(
            f"Experiment {experiment['id']}: {experiment['status']}; "
            f"{experiment['metric']}: {scores}; winner: {experiment['winner'] or 'none'}",
            markup=False,
        )
        if experiment["adr"]:
            console.print(f"  ADR {experiment['adr']}; report {experiment['report']}", markup=False)


def _progress_ticker(app_ctx: AppContext) -> Any:
    last: dict[str, str] = {}

    async def tick(daemon_ctx: Any) -> None:
        import anyio

        tracks = await anyio.to_thread.run_sync(daemon_ctx.store.list_tracks)
        line = "  ".join(f"{t['id']} {t['done_count']}/{t['wo_count']}" for t in tracks)
        if line != last.get("line"):
            last["line"] = line
            app_ctx.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")

    return tick


def sim_serve(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = 0,
    faults: Annotated[str, typer.Option(help="e.g. 429:0.2,529:0.1,cut:0.05,latency:200ms")] = "",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the fault injection.")] = 0,
) -> None:
    """Serve the offline model simulator on loopback until interrupted."""
    from orchestrator.sim import parse_fault_spec, serve_forever

    try:
        parse_fault_spec(faults)
    except ValueError as exc:
        raise ValidationError(f"--faults: {exc}") from None
    try:
        serve_forever(port, faults, seed)
    except OSError as exc:
        raise UserInputError(f"--port {port}: cannot listen on 127.0.0.1: {exc.strerror}") from None


def register(app: typer.Typer) -> None:
    from orchestrator.cli.logs_command import logs

    app.command()(run)
    app.command()(stop)
    app.command()(recover)
    app.command()(logs)
    app.command()(demo)
    sim_app = typer.Typer(help="The offline model simulator.", no_args_is_help=True)
    sim_app.command("serve")(sim_serve)
    app.add_typer(sim_app, name="sim")
