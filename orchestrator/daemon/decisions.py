"""The decision agents: the global agent (tracks only) and the project agents (WOs).

Both act only through their MCP tools; the handlers here check every argument against the
state (known tracks, the track's own startable WOs) and answer errors the agent can fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import anyio

from orchestrator.agents.classify import ErrorClass, error_class
from orchestrator.agents.protocol import ToolReply
from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.sessions import drive_session, make_spec
from orchestrator.domain.dispatch import global_round_needed
from orchestrator.domain.errors import AgentError, OrchestratorError
from orchestrator.domain.lifecycle import RunStatus, TrackStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.roles import Role
from orchestrator.domain.wo_rules import validate_work_order
from orchestrator.store.planning import TrackWork

#: A WO id anywhere in a text (``ids.WO_ID_RE`` matches only a whole string).
WO_ID_IN_TEXT_RE = re.compile(r"WO-[0-9]{4}-[0-9]{3,}")

#: Track statuses the global agent reasons about.
PLANNED_STATUSES = (
    TrackStatus.READY.value,
    TrackStatus.ACTIVE.value,
    TrackStatus.PAUSED.value,
)


def global_payload(work: list[TrackWork], budget_usd: float | None) -> dict[str, Any]:
    """Track summaries across all projects: never a WO id (the global agent sees no WOs)."""
    return {
        "kind": "tracks_overview",
        "budget_usd": budget_usd,
        "tracks": [
            {
                "id": w.track.id,
                "project": w.track.project_id,
                "name": w.track.name,
                "type": w.track.type,
                "status": w.track.status,
                "priority": w.track.priority,
                "weight": w.track.weight,
                "done": w.total - w.unfinished,
                "total": w.total,
                "failed": w.failed,
                "blocked_reason": w.track.blocked_reason,
                "cost_usd": round(w.cost_usd, 4),
            }
            for w in work
        ],
    }


@dataclass
class GlobalTools:
    ctx: DaemonContext
    run_id: str
    known_tracks: set[str]
    applied: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        if any(WO_ID_IN_TEXT_RE.search(v) for v in _strings(args)):
            return ToolReply(False, "the global agent works on tracks only: no work order ids")
        if tool == "set_track_priorities":
            weights = {w["track_id"]: float(w["weight"]) for w in args["weights"]}
            unknown = sorted(set(weights) - self.known_tracks)
            if unknown:
                return ToolReply(False, f"unknown track ids: {', '.join(unknown)}")
            await anyio.to_thread.run_sync(
                lambda: self.ctx.store.add_directive(weights, args["reason"], self.run_id)
            )
            self.applied.append({"weights": weights})
            return ToolReply(True, f"priorities set for {len(weights)} tracks")
        if tool == "set_track_budget":
            budgets = {b["track_id"]: float(b["usd"]) for b in args["budgets"]}
            unknown = sorted(set(budgets) - self.known_tracks)
            if unknown:
                return ToolReply(False, f"unknown track ids: {', '.join(unknown)}")
            await anyio.to_thread.run_sync(
                lambda: self.ctx.store.add_directive({}, args["reason"], self.run_id, budgets)
            )
            return ToolReply(True, f"budgets set for {len(budgets)} tracks")
        return ToolReply(False, f"unknown tool {tool}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


async def run_global_agent(ctx: DaemonContext, reason: str) -> None:
    """One planning round of the global agent; failures are logged, never fatal."""
    store = ctx.store
    work = await anyio.to_thread.run_sync(lambda: store.track_work(PLANNED_STATUSES, shown=1))
    if not any(w.startable or w.running for w in work):
        # Nothing left that could start or is running (the end of a night): nothing to weigh.
        return
    directive = await anyio.to_thread.run_sync(store.latest_directive)
    live = [w.track.id for w in work if w.startable or w.running]
    if not global_round_needed(reason, live, directive, ctx.options.budget_usd):
        ctx.log.info("global_round_skipped", reason=reason, tracks=len(live))
        return
    # Shielded: a stop that cut in here would leave the new run live; _settle settles it.
    with anyio.CancelScope(shield=True):
        run = await anyio.to_thread.run_sync(lambda: store.start_run(Role.GLOBAL, ctx.daemon_id))
    tools = GlobalTools(ctx, run.id, {w.track.id for w in work})
    payload = global_payload(work, ctx.options.budget_usd)
    spec = make_spec(
        ctx, run.id, Role.GLOBAL, payload, ctx.settings.state_dir, tools, labels={"reason": reason}
    )
    await _settle(ctx, run.id, spec, lambda: bool(tools.applied))


def project_payload(
    ctx: DaemonContext, work: TrackWork, directive: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "kind": "choose_next",
        "project": work.track.project_id,
        "directive": directive or {},
        "track": {"id": work.track.id, "name": work.track.name, "goal": work.track.goal},
        "ready_work_orders": work.startable,
        "queue_size": ctx.settings.daemon.queue_size,
    }


@dataclass
class ProjectTools:
    ctx: DaemonContext
    run_id: str
    work: TrackWork
    queue: list[str] = field(default_factory=list)

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        track = self.work.track
        store = self.ctx.store
        if tool == "choose_work_orders":
            if args["track_id"] != track.id:
                return ToolReply(False, f"you are choosing for track {track.id} only")
            startable = {w["id"] for w in self.work.startable}
            wrong = [w for w in args["wo_ids"] if w not in startable]
            if wrong:
                return ToolReply(
                    False,
                    f"not startable in {track.id}: {', '.join(wrong)}; "
                    f"choose among {', '.join(sorted(startable))}",
                )
            self.queue = list(dict.fromkeys(args["wo_ids"]))
            await anyio.to_thread.run_sync(
                lambda: store.set_queue(track.id, self.queue, self.run_id)
            )
            return ToolReply(True, f"queued {len(self.queue)} work orders")
        if tool == "create_work_order":
            return await self._create(args)
        if tool == "report_track_progress":
            if args["track_id"] != track.id:
                return ToolReply(False, f"you report on track {track.id} only")
            await anyio.to_thread.run_sync(lambda: store.note_progress(track.id, self.run_id, args))
            return ToolReply(True, "noted")
        return ToolReply(False, f"unknown tool {tool}")

    async def _create(self, args: dict[str, Any]) -> ToolReply:
        track = self.work.track
        wo = WorkOrder(
            id="",
            title=args["title"].strip(),
            goal=args["goal"],
            priority=int(args.get("priority", 3)),
            tags=tuple(args.get("tags", [])),
            depends_on=tuple(args.get("depends_on", [])),
            acceptance_criteria=tuple(args.get("acceptance_criteria", [])),
        )
        try:
            # The same rules as `orch wo add` and an imported file (the agent may correct).
            validate_work_order(wo)
            created = await anyio.to_thread.run_sync(
                lambda: self.ctx.store.add_work_order(track.project_id, wo, "agent", self.run_id)
            )
            target = args.get("track_id") or track.id
            await anyio.to_thread.run_sync(lambda: self.ctx.store.assign(target, [created.id]))
        except OrchestratorError as exc:
            return ToolReply(False, str(exc))
        return ToolReply(True, f"created {created.id}")


async def run_project_agent(ctx: DaemonContext, work: TrackWork) -> list[str]:
    """Ask the track's project agent for the next WOs; returns the queue it set."""
    store = ctx.store
    directive_row = await anyio.to_thread.run_sync(store.latest_directive)
    directive = (
        None
        if directive_row is None
        else {
            "weights": {k: v for k, v in directive_row.weights.items()},
            "reason": directive_row.reason,
        }
    )
    with anyio.CancelScope(shield=True):  # as in run_global_agent
        run = await anyio.to_thread.run_sync(
            lambda: store.start_run(
                Role.PROJECT,
                ctx.daemon_id,
                project_id=work.track.project_id,
                track_id=work.track.id,
            )
        )
    tools = ProjectTools(ctx, run.id, work)
    payload = project_payload(ctx, work, directive)
    spec = make_spec(
        ctx,
        run.id,
        Role.PROJECT,
        payload,
        ctx.settings.state_dir,
        tools,
        labels={"track_id": work.track.id},
    )
    await _settle(ctx, run.id, spec, lambda: bool(tools.queue))
    return tools.queue


async def _settle(ctx: DaemonContext, run_id: str, spec: Any, acted: Any) -> None:
    """Drive a decision session and settle its run row, whatever happens."""
    status, error = RunStatus.FAILED, None
    try:
        outcome = await drive_session(ctx, run_id, spec)
        if outcome.interrupted:
            status = RunStatus.INTERRUPTED
        elif acted():
            status = RunStatus.SUCCEEDED
        else:
            error = "the agent ended without calling its tool"
    except AgentError as exc:
        error = f"{type(exc).__name__}: {exc}"
        ctx.log.warning("decision_failed", run_id=run_id, error=error)
        if error_class(exc) in (ErrorClass.AUTH, ErrorClass.UNREACHABLE):
            raise  # no session can work: the supervisor parks the run
    finally:
        with anyio.CancelScope(shield=True):
            final = (
                RunStatus.INTERRUPTED if status is RunStatus.FAILED and error is None else status
            )
            await anyio.to_thread.run_sync(lambda: ctx.store.finish_run(run_id, final, error=error))
