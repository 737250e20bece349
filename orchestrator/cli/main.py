"""The ``orch`` app: global options, error handling, and the sub-command groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli import experiments, projects, tracks, work_orders
from orchestrator.cli.context import AppContext, resolve_home
from orchestrator.cli.params import non_empty_path
from orchestrator.domain.errors import OrchestratorError

app = typer.Typer(
    name="orch",
    help="Run Claude coding agents in parallel tracks, each in its own git worktree.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(projects.app, name="project")
app.add_typer(work_orders.app, name="wo")
app.add_typer(tracks.app, name="track")
app.add_typer(experiments.app, name="experiment")


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            parser=non_empty_path,
            help="State home (default: $ORCH_HOME or the current directory).",
        ),
    ] = None,
) -> None:
    app_ctx = AppContext(home=resolve_home(home))
    ctx.obj = app_ctx
    ctx.call_on_close(app_ctx.close)


def _register_commands() -> None:
    from orchestrator.cli import daemon_commands, dashboard, home_commands, hosts, review

    home_commands.register(app)
    dashboard.register(app)
    daemon_commands.register(app)
    review.register(app)
    hosts.register(app)


_register_commands()


_command: Any = None


def _click_command() -> Any:
    """The click command tree, built once per process.

    Building it evaluates the annotations of every command (tens of milliseconds); ``app()``
    would rebuild it on each call, which in-process callers (tests, drivers) pay every time.
    """
    global _command
    if _command is None:
        _command = typer.main.get_command(app)
    return _command


def main(argv: list[str] | None = None) -> None:
    """Entry point: one clear line on stderr and status 2 for bad input, never a traceback."""
    try:
        # Outside standalone mode click returns a command's `typer.Exit(code)` instead of
        # exiting: `orch run` ends with 3 that way when work needs attention.
        code = _click_command().main(args=argv, prog_name="orch", standalone_mode=False)
        if type(code) is int and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("orch: aborted\n")
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (unknown command or option, bad value): one line, status 2.
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(message + "\n")
        else:
            first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
            sys.stderr.write(f"orch: error: {first}\n")
        sys.exit(2)
    except OrchestratorError as exc:
        message = str(exc).strip() or type(exc).__name__
        sys.stderr.write(f"orch: error: {message}\n")
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A file-system or socket failure no command foresaw: still one line, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"orch: error: {exc.strerror or type(exc).__name__}{where}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("orch: interrupted\n")
        sys.exit(130)
