"""``orch organize`` and ``orch review``: run the track organizer, review its proposals.

A proposal is shown as a diff against the project as it is today; approving applies it in
one transaction, rejecting keeps it for the record. A proposal made against an older state
is stale: it cannot be approved, only re-run.
"""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.context import AppContext, emit_json
from orchestrator.domain.errors import AgentError
from orchestrator.domain.organization import OrganizeMode, ProposalStatus
from orchestrator.domain.wo_rules import printable

app = typer.Typer(
    help="Review the track organizer's proposals: list, show, approve, reject.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ProposalArg = Annotated[int, typer.Argument(metavar="ID", help="Proposal id.")]
#: Moves listed by name in `review show`; the rest are counted.
SHOWN_MOVES = 30


def organize(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
    mode: Annotated[
        str | None,
        typer.Option(help="initial, incremental or reorg (default: initial without tracks)."),
    ] = None,
    model_backend: Annotated[
        str | None,
        typer.Option("--model-backend", help="claude (your login) or sim (offline simulator)."),
    ] = None,
) -> None:
    """Run the track organizer now; its proposal waits for `orch review`."""
    import anyio

    from orchestrator.cli.daemon_commands import _logging, _settings
    from orchestrator.daemon.runner import run_organize

    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    project_id = store.get_project(project).id if project else store.only_project().id
    parsed = OrganizeMode.parse(mode) if mode is not None else None
    settings = _settings(app_ctx, model_backend)
    _logging(settings)
    outcome = anyio.run(run_organize, settings, store, project_id, parsed)
    console = app_ctx.console
    if outcome.nothing_to_do:
        console.print(f"Nothing to organize in {project_id}: no work order is waiting for a track.")
        return
    if outcome.proposal_id is None:
        raise AgentError(f"organizer run {outcome.run_id}: {outcome.error}")
    if outcome.status == ProposalStatus.APPROVED.value:
        console.print(
            f"Proposal {outcome.proposal_id} ({outcome.mode.value}) only placed new work orders "
            "in existing tracks and was applied (organizer.auto_apply_incremental)."
        )
        return
    console.print(
        f"Proposal {outcome.proposal_id} ({outcome.mode.value}, {outcome.attempts} attempts) "
        f"is {outcome.status}. Review it: orch review show {outcome.proposal_id}",
        markup=False,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, approved, rejected or stale.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List proposals (pending ones made against an older state are marked stale first)."""
    from orchestrator.service import reads

    app_ctx: AppContext = ctx.obj
    rows = reads.review_list(app_ctx.store, project, status)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        app_ctx.console.print(
            f"{row['id']:>4}  {row['project']}  {row['mode']:<11}  {row['status']:<8}  "
            f"{row['created_at'][:19]}",
            markup=False,
        )
    app_ctx.console.print(f"{len(rows)} proposals")


@app.command("show")
def show(ctx: typer.Context, proposal_id: ProposalArg, as_json: JsonOption = False) -> None:
    """Show a proposal as a diff against today: tracks and WO moves, with the reasons."""
    from orchestrator.service import reads
    from orchestrator.service.review_text import review_lines

    app_ctx: AppContext = ctx.obj
    data, proposal, diff = reads.review_show(app_ctx.store, proposal_id)
    if as_json:
        emit_json(data)
        return
    for line in review_lines(data, proposal, diff):
        app_ctx.console.print(printable(line), markup=False, highlight=False, soft_wrap=True)


@app.command("approve")
def approve(ctx: typer.Context, proposal_id: ProposalArg) -> None:
    """Apply a pending proposal in one transaction (history in the events journal)."""
    from orchestrator.service.actions import approve_proposal

    app_ctx: AppContext = ctx.obj
    result = approve_proposal(app_ctx.store, proposal_id)
    created = ", ".join(result.created.values()) or "none"
    app_ctx.console.print(
        f"Approved proposal {proposal_id}: tracks created: {created}; "
        f"{result.edited} tracks changed; {result.links} work orders placed or moved.",
        markup=False,
        soft_wrap=True,
    )


@app.command("reject")
def reject(
    ctx: typer.Context,
    proposal_id: ProposalArg,
    reason: Annotated[str, typer.Option(help="Why (kept in the events journal).")] = "",
) -> None:
    """Reject a proposal; it is kept for the record."""
    from orchestrator.service.actions import reject_proposal

    app_ctx: AppContext = ctx.obj
    row = reject_proposal(app_ctx.store, proposal_id, reason)
    app_ctx.console.print(f"Rejected proposal {row.id}.")


def register(root: typer.Typer) -> None:
    root.command()(organize)
    root.add_typer(app, name="review")
