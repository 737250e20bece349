"""``orch organize`` and ``orch review``: run the track organizer, review its proposals.

A proposal is shown as a diff against the project as it is today; approving applies it in
one transaction, rejecting keeps it for the record. A proposal made against an older state
is stale: it cannot be approved, only re-run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestrator.cli.context import AppContext, emit_json
from orchestrator.domain.errors import AgentError, ValidationError
from orchestrator.domain.organization import OrganizeMode, Proposal, ProposalStatus
from orchestrator.domain.proposal_diff import ProposalDiff, diff_proposal

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
    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    if project is not None:
        store.get_project(project)
    if status is not None:
        status = _status(status)
    store.refresh_stale(project)
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "project": r.project_id,
            "mode": r.mode,
            "status": r.status,
            "created_at": r.created_at.isoformat(),
        }
        for r in store.list_proposals(project, status)
    ]
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


def _status(value: str) -> str:
    try:
        return ProposalStatus(value).value
    except ValueError:
        names = ", ".join(s.value for s in ProposalStatus)
        raise ValidationError(f"unknown proposal status {value!r}: one of {names}") from None


@app.command("show")
def show(ctx: typer.Context, proposal_id: ProposalArg, as_json: JsonOption = False) -> None:
    """Show a proposal as a diff against today: tracks and WO moves, with the reasons."""
    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    row = store.get_proposal(proposal_id)
    store.refresh_stale(row.project_id)
    row = store.get_proposal(proposal_id)
    proposal = Proposal.from_json(row.proposal)
    # Once applied, a diff against today would show nothing (or noise): show what it did.
    applied = row.status == ProposalStatus.APPROVED.value
    diff = None if applied else diff_proposal(store.org_state(row.project_id), proposal)
    data: dict[str, Any] = {
        "id": row.id,
        "project": row.project_id,
        "mode": row.mode,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "run_id": row.run_id,
        "trigger": row.proposal.get("trigger"),
        "recommendations": list(proposal.recommendations),
        "tracks": [t.to_json() for t in proposal.tracks],
        "assignments": len(proposal.assignments),
        "diff": diff.to_json() if diff is not None else None,
    }
    if as_json:
        emit_json(data)
        return
    for line in _render(data, proposal, diff):
        app_ctx.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _render(data: dict[str, Any], proposal: Proposal, diff: ProposalDiff | None) -> list[str]:
    lines = [
        f"Proposal {data['id']}  project {data['project']}  mode {data['mode']}  "
        f"{data['status'].upper()}  made {data['created_at'][:19]} "
        f"({data['trigger'] or 'manual'}, run {data['run_id']})"
    ]
    status = data["status"]
    if status == ProposalStatus.STALE.value:
        lines.append(
            "  STALE: the project changed since this proposal was made; it cannot be approved. "
            f"Re-run: orch organize --project {data['project']}"
        )
    elif status != ProposalStatus.PENDING.value:
        lines.append(f"  {status} at {str(data['decided_at'])[:19]}")
    if diff is None:
        return [*lines, *_applied_lines(proposal)]
    lines.append("Tracks:")
    lines.extend(_track_lines(proposal, diff) or ["  (no change to tracks)"])
    lines.append(
        f"Work orders: {diff.assigned} newly assigned, {len(diff.moved)} moved, "
        f"{diff.unchanged} unchanged, {diff.still_unassigned} still without a track"
    )
    for track, (joining, leaving) in diff.per_track.items():
        lines.append(f"  {track:<32} +{joining} -{leaving}")
    if diff.moved:
        lines.append("Moves:")
        for wo_id, before, after in diff.moved[:SHOWN_MOVES]:
            lines.append(f"  {wo_id}: {', '.join(before)} -> {', '.join(after)}")
        if len(diff.moved) > SHOWN_MOVES:
            lines.append(f"  ... and {len(diff.moved) - SHOWN_MOVES} more")
    if proposal.recommendations:
        lines.append("Reasons and recommendations:")
        lines.extend(f"  - {r}" for r in proposal.recommendations)
    if status == ProposalStatus.PENDING.value:
        lines.append(
            f"Approve: orch review approve {data['id']}    Reject: orch review reject {data['id']}"
        )
    return lines


def _applied_lines(proposal: Proposal) -> list[str]:
    names = {t.key: t.name for t in proposal.tracks}
    per_track: dict[str, int] = {}
    for targets in proposal.assignments.values():
        for target in targets:
            name = names.get(target, target)
            per_track[name] = per_track.get(name, 0) + 1
    lines = ["Applied tracks:"]
    for track in proposal.tracks:
        where = f"under {names.get(track.parent, track.parent)}" if track.parent else "top level"
        kind = "existing" if track.existing else "new"
        lines.append(f"  {track.name}  ({kind}, {where}, {track.status})")
    lines.append(f"Applied assignments: {len(proposal.assignments)} work orders")
    lines.extend(f"  {name:<32} {n}" for name, n in sorted(per_track.items()))
    if proposal.recommendations:
        lines.append("Reasons and recommendations:")
        lines.extend(f"  - {r}" for r in proposal.recommendations)
    return lines


def _track_lines(proposal: Proposal, diff: ProposalDiff) -> list[str]:
    lines: list[str] = []
    new_keys = {t.key: t for t in diff.added}
    names = {t.key: t.name for t in proposal.tracks}
    joining = {t: j for t, (j, _) in diff.per_track.items()}
    for track in diff.added:
        nested = track.parent in new_keys
        where = f"under {names.get(track.parent, track.parent)}" if track.parent else "top level"
        lines.append(
            f"  + {'  ' if nested else ''}{track.name}  ({track.type}, {track.status}, {where}, "
            f"{joining.get(track.name, 0)} WOs)  {track.goal}"
        )
    lines.extend(f"  ~ renamed {i}: {a} -> {b}" for i, a, b in diff.renamed)
    lines.extend(f"  ~ goal of {i}: {a!r} -> {b!r}" for i, a, b in diff.goals)
    for track_id, before, after in diff.reparented:
        if after is None:
            lines.append(f"  ^ promoted {track_id} to top level (was under {before})")
        else:
            lines.append(f"  ^ moved {track_id} under {after} (was {before or 'top level'})")
    lines.extend(f"  > merged {i} into {into}" for i, into in diff.merged)
    lines.extend(f"  < split {i} into {', '.join(into)}" for i, into in diff.split)
    merged = {i for i, _ in diff.merged}
    lines.extend(f"  - cancelled {i}" for i in diff.cancelled if i not in merged)
    return lines


@app.command("approve")
def approve(ctx: typer.Context, proposal_id: ProposalArg) -> None:
    """Apply a pending proposal in one transaction (history in the events journal)."""
    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    row = store.get_proposal(proposal_id)
    if row.status == ProposalStatus.PENDING.value:
        result = store.apply_proposal(proposal_id)
        if not result.stale:
            created = ", ".join(result.created.values()) or "none"
            app_ctx.console.print(
                f"Approved proposal {proposal_id}: tracks created: {created}; "
                f"{result.edited} tracks changed; {result.links} work orders placed or moved.",
                markup=False,
                soft_wrap=True,
            )
            return
    elif row.status != ProposalStatus.STALE.value:
        raise ValidationError(f"proposal {proposal_id} is already {row.status}")
    raise ValidationError(
        f"proposal {proposal_id} is stale (the project changed since it was made): re-run "
        f"`orch organize --project {row.project_id}`"
    )


@app.command("reject")
def reject(
    ctx: typer.Context,
    proposal_id: ProposalArg,
    reason: Annotated[str, typer.Option(help="Why (kept in the events journal).")] = "",
) -> None:
    """Reject a proposal; it is kept for the record."""
    app_ctx: AppContext = ctx.obj
    row = app_ctx.store.reject_proposal(proposal_id, reason)
    app_ctx.console.print(f"Rejected proposal {row.id}.")


def register(root: typer.Typer) -> None:
    root.command()(organize)
    root.add_typer(app, name="review")
