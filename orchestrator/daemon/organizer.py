"""The track organizer: one agent session per project that proposes a track structure.

The agent acts only through ``propose_tracks``. Each call is validated against the project's
structure as it was read for the prompt; a rejected call gets every problem back so the agent
can correct itself, for at most ``organizer.max_attempts`` calls. A valid proposal is stored
(never applied) for a human to review, except that with ``organizer.auto_apply_incremental``
an incremental proposal that only places WOs in existing tracks is applied at once.

``AutoOrganizer`` is the daemon's trigger: a project that gained ``organize_after_new_wos``
WOs (imports, ``wo add``, project agents) since its last organization gets an incremental run;
on a database several hosts share, one host at a time organizes a project (``held_here``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc

from orchestrator.agents.prompts import user_prompt
from orchestrator.agents.protocol import ToolReply
from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.host_locks import held_here
from orchestrator.daemon.sessions import drive_session, make_spec
from orchestrator.domain.errors import AgentError, OrchestratorError
from orchestrator.domain.lifecycle import RunStatus
from orchestrator.domain.organization import (
    MAX_TOP_LEVEL_TRACKS,
    OrganizeMode,
    OrgState,
    ProposalRejectedError,
    ProposalStatus,
)
from orchestrator.domain.organize_context import OrganizeContext, build_context
from orchestrator.domain.proposal import validate_proposal
from orchestrator.domain.proposal_diff import plan_application
from orchestrator.domain.roles import Role

_MODE_GUIDANCE: dict[OrganizeMode, str] = {
    OrganizeMode.INITIAL: (
        "Mode initial: the project has no tracks yet. Propose the full structure and assign "
        "every work order to at least one track."
    ),
    OrganizeMode.INCREMENTAL: (
        "Mode incremental: place only the work orders that have no track yet, in existing "
        "tracks (name a track by its id) or in new tracks you propose. Do not move work "
        "orders that already have a track."
    ),
    OrganizeMode.REORG: (
        "Mode reorg: review the whole structure. Merge tracks (move their work orders and list "
        'the merged-away track with status "cancelled"), split, rename or re-parent tracks '
        "(list an existing track with its id as key and the new name, goal or parent; parent "
        "null promotes a sub-track), and propose new tracks. An assignment replaces the work "
        "order's tracks; work orders you do not mention stay where they are."
    ),
}


def organizer_prompt(mode: OrganizeMode, context: OrganizeContext, max_top_level: int) -> str:
    """The user prompt: the rules of this mode, then the payload block."""
    rules = (
        f"Rules: at most {max_top_level} top-level tracks (each is a lane of the tech tree); "
        "sub-tracks sit directly below a top-level track, one level deep. A track name is a "
        "short slug (a-z, 0-9, '-'). New tracks start as draft."
    )
    parts = [_MODE_GUIDANCE[mode], rules]
    if context.refs:
        example = next(iter(context.refs))
        parts.append(
            f"Some work orders are only summarized in groups (context level {context.level}). "
            f"An assignment whose wo_id is a group's ref (such as {example!r}) assigns every "
            "work order of that group."
        )
    return "\n\n".join([*parts, user_prompt(Role.ORGANIZER, context.payload)])


@dataclass(frozen=True)
class OrganizeOutcome:
    project: str
    mode: OrganizeMode
    run_id: str | None = None
    proposal_id: int | None = None
    #: The stored proposal's status: pending, approved (auto-applied) or stale.
    status: str | None = None
    attempts: int = 0
    #: The problems of the last rejected attempt.
    problems: tuple[str, ...] = ()
    nothing_to_do: bool = False
    error: str | None = None


@dataclass
class OrganizerTools:
    """``propose_tracks`` for one organizer session: validate, store, maybe auto-apply."""

    ctx: DaemonContext
    run_id: str
    state: OrgState
    mode: OrganizeMode
    context: OrganizeContext
    trigger: str
    #: New-WO count the run was started for (taken off the project's counter when stored).
    consumed: int = 0
    max_attempts: int = 3
    max_top_level: int = MAX_TOP_LEVEL_TRACKS
    attempts: int = 0
    problems: list[str] = field(default_factory=list)
    proposal_id: int | None = None
    status: str | None = None

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        if tool != "propose_tracks":
            return ToolReply(False, f"unknown tool {tool}")
        if self.proposal_id is not None:
            # A resumed session may repeat its call: the first valid proposal stands.
            return ToolReply(True, f"proposal {self.proposal_id} is already stored; just end")
        if self.attempts >= self.max_attempts:
            return ToolReply(
                False, f"no attempts left ({self.max_attempts} used): nothing was stored; end now"
            )
        self.attempts += 1
        try:
            proposal = validate_proposal(
                self.state,
                self.mode,
                args,
                refs=self.context.refs,
                max_top_level=self.max_top_level,
            )
        except ProposalRejectedError as exc:
            self.problems = exc.problems
            left = self.max_attempts - self.attempts
            self.ctx.log.info(
                "organizer_proposal_rejected", run_id=self.run_id, problems=len(exc.problems)
            )
            return ToolReply(False, f"{exc}\n({left} attempts left)")
        plan = plan_application(self.state, proposal)
        data = proposal.to_json() | {
            "trigger": self.trigger,
            "attempts": self.attempts,
            "context_level": self.context.level,
            "context_tokens": self.context.tokens,
        }
        store = self.ctx.store
        row = await anyio.to_thread.run_sync(
            lambda: store.add_proposal(
                self.state.project,
                self.mode,
                self.state.fingerprint(),
                data,
                run_id=self.run_id,
                consumed_new_wos=self.consumed,
            )
        )
        assert row.id is not None
        proposal_id = row.id
        self.proposal_id, self.status = proposal_id, ProposalStatus.PENDING.value
        auto = self.ctx.settings.organizer.auto_apply_incremental
        if auto and self.mode is OrganizeMode.INCREMENTAL and not plan.structural:
            result = await anyio.to_thread.run_sync(
                lambda: store.apply_proposal(proposal_id, auto=True)
            )
            self.status = (ProposalStatus.STALE if result.stale else ProposalStatus.APPROVED).value
        self.ctx.log.info(
            "organizer_proposal_stored",
            run_id=self.run_id,
            proposal=proposal_id,
            status=self.status,
            tracks=len(proposal.tracks),
            assignments=len(proposal.assignments),
        )
        verb = "applied" if self.status == ProposalStatus.APPROVED.value else "stored for review"
        return ToolReply(
            True,
            f"proposal {proposal_id} {verb}: {len(proposal.tracks)} tracks, "
            f"{len(proposal.assignments)} work orders assigned. Nothing more to do; end now.",
        )


async def run_organizer(
    ctx: DaemonContext,
    project: str,
    mode: OrganizeMode | None = None,
    *,
    trigger: str = "manual",
) -> OrganizeOutcome:
    """One organizer session for ``project`` (default mode: initial without tracks, else
    incremental). Agent failures are in the outcome's ``error``, never raised."""
    store = ctx.store
    settings = ctx.settings.organizer
    counts = await anyio.to_thread.run_sync(store.new_wo_counts)
    state = await anyio.to_thread.run_sync(store.org_state, project)
    mode = mode or state.default_mode()
    consumed = counts.get(project, 0)
    if not state.to_place(mode) and not (mode is OrganizeMode.REORG and state.live_tracks):
        # Nothing to place (e.g. every new WO came from a project agent, already in a track).
        await anyio.to_thread.run_sync(store.consume_new_wos, project, consumed)
        return OrganizeOutcome(project, mode, nothing_to_do=True)
    # Thousands of WOs take a moment to summarize: off the event loop.
    context = await anyio.to_thread.run_sync(
        lambda: build_context(state, mode, budget=settings.context_token_budget)
    )
    run = await anyio.to_thread.run_sync(
        lambda: store.start_run(Role.ORGANIZER, ctx.daemon_id, project_id=project)
    )
    tools = OrganizerTools(
        ctx,
        run.id,
        state,
        mode,
        context,
        trigger,
        consumed=consumed,
        max_attempts=max(1, settings.max_attempts),
    )
    prompt = organizer_prompt(mode, context, tools.max_top_level)
    spec = make_spec(
        ctx,
        run.id,
        Role.ORGANIZER,
        context.payload,
        ctx.settings.state_dir,
        tools,
        prompt=prompt,
        labels={"project": project, "mode": mode.value},
    )
    ctx.log.info(
        "organizer_started",
        run_id=run.id,
        project=project,
        mode=mode.value,
        trigger=trigger,
        context_level=context.level,
        context_tokens=context.tokens,
    )
    error = await _settle(ctx, run.id, spec, tools)
    return OrganizeOutcome(
        project,
        mode,
        run_id=run.id,
        proposal_id=tools.proposal_id,
        status=tools.status,
        attempts=tools.attempts,
        problems=tuple(tools.problems),
        error=error,
    )


async def _settle(ctx: DaemonContext, run_id: str, spec: Any, tools: OrganizerTools) -> str | None:
    """Drive the session and settle its run row whatever happens; returns the failure, if any."""
    status, error = RunStatus.FAILED, None
    try:
        outcome = await drive_session(ctx, run_id, spec)
        if tools.proposal_id is not None:
            status = RunStatus.SUCCEEDED
        elif outcome.interrupted:
            status = RunStatus.INTERRUPTED
        elif tools.attempts:
            error = (
                f"the organizer made no valid proposal in {tools.attempts} attempts; last "
                f"problems: {'; '.join(tools.problems)}"
            )
        else:
            error = "the organizer ended without calling propose_tracks"
    except AgentError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        with anyio.CancelScope(shield=True):
            final = (
                RunStatus.INTERRUPTED if status is RunStatus.FAILED and error is None else status
            )
            summary = None if tools.proposal_id is None else f"proposal {tools.proposal_id}"
            await anyio.to_thread.run_sync(
                lambda: ctx.store.finish_run(run_id, final, error=error, summary=summary)
            )
    if error is not None:
        ctx.log.warning("organizer_failed", run_id=run_id, error=error)
    return error


@dataclass
class AutoOrganizer:
    """The daemon's trigger: organize a project after N new WOs (config
    ``organizer.organize_after_new_wos``; 0 turns it off). Each run takes an agent slot."""

    ctx: DaemonContext
    on_done: Callable[[], None] = lambda: None
    #: Projects whose organizer runs now.
    running: set[str] = field(default_factory=set)
    #: Counter value at a failed run: the next try waits for N more new WOs, not a tight loop.
    _failed_at: dict[str, int] = field(default_factory=dict)
    #: Projects another host organizes: not asked again before this (monotonic) time.
    _elsewhere_until: dict[str, float] = field(default_factory=dict)

    @property
    def _recheck_s(self) -> float:
        return self.ctx.settings.daemon.heartbeat_interval_s

    async def poll(self, tg: anyio.abc.TaskGroup) -> int:
        """Start the organizer of every project that is due; returns how many started."""
        threshold = self.ctx.settings.organizer.organize_after_new_wos
        if threshold <= 0:
            return 0
        counts = await anyio.to_thread.run_sync(self.ctx.store.new_wo_counts)
        started = 0
        for project, count in sorted(counts.items()):
            failed_at = self._failed_at.get(project)
            if project in self.running or count < threshold:
                continue
            if time.monotonic() < self._elsewhere_until.get(project, 0.0):
                continue
            if failed_at is not None and count < failed_at + threshold:
                continue
            self.running.add(project)
            tg.start_soon(self._round, project, count)
            started += 1
        return started

    async def _round(self, project: str, count: int) -> None:
        try:
            async with self.ctx.limiter, held_here(self.ctx, f"organize:{project}") as ours:
                if not ours:
                    # Another host organizes it now; its proposal consumes the new WOs.
                    self._elsewhere_until[project] = time.monotonic() + self._recheck_s
                    self.ctx.log.info("organize_held_elsewhere", project=project)
                    return
                outcome = await run_organizer(self.ctx, project, trigger="auto")
            if outcome.error is None:
                self._failed_at.pop(project, None)
            else:
                self._failed_at[project] = count
        except OrchestratorError as exc:
            self._failed_at[project] = count
            self.ctx.log.error("organize_round_failed", project=project, error=str(exc))
        finally:
            self.running.discard(project)
            self.on_done()
