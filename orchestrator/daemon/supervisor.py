"""The supervisor: one daemon per state home, dispatching agents to tracks until told to stop.

APScheduler only *triggers* (heartbeat, global planning, dispatch ticks, housekeeping); every
decision reads the DB, which is the single source of truth, so a restart loses nothing that
matters. Slots are shared by weighted fair queuing over the global agent's track weights,
with at most one worker per track. The decision agents (global and project) run beside the
slots, never in one: a free slot starts the next WO with what is decided so far (the
latest weights, the track's queue or else its most important startable WO), and a decision
refines what comes after.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import anyio
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.decisions import run_global_agent, run_project_agent
from orchestrator.daemon.experiments import ExperimentPump
from orchestrator.daemon.hosting import register_host
from orchestrator.daemon.merging import finish_track, take_base
from orchestrator.daemon.organizer import AutoOrganizer
from orchestrator.daemon.ownership import Ownership
from orchestrator.daemon.recovery import recover, settle_abandoned_decisions
from orchestrator.daemon.worker_run import run_work_order
from orchestrator.daemon.workspace import activate_track
from orchestrator.domain.dispatch import (
    ROUTINE_TRIGGERS,
    TRACK_FINISHED,
    TRACKS_ACTIVATED,
    Candidate,
    choose_tracks,
    share_within_groups,
)
from orchestrator.domain.errors import (
    BackendUnavailableError,
    BackendUnreachableError,
    OrchestratorError,
)
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.parking import Park, ParkScope
from orchestrator.store.claims import ClaimConflictError
from orchestrator.store.planning import STARTABLE_SHOWN, TrackWork

#: Seconds between housekeeping rounds (stale-run detection, pruning).
HOUSEKEEPING_INTERVAL_S = 60.0


@dataclass
class SupervisorState:
    track_scopes: dict[str, anyio.CancelScope] = field(default_factory=dict)
    passes: dict[str, float] = field(default_factory=dict)
    global_running: bool = False
    #: Tracks whose project agent is choosing their next queue (at most one per track).
    deciding: dict[str, anyio.CancelScope] = field(default_factory=dict)
    #: The WOs each track's project agent last chose among: a startable WO outside them is
    #: news its queue does not answer (new, retried, or freed by a dependency).
    offered: dict[str, frozenset[str]] = field(default_factory=dict)
    global_wanted: str | None = "start"
    #: Nothing of the run's budget is left for a new session.
    budget_spent: bool = False
    wake: anyio.Event = field(default_factory=anyio.Event)

    def want_global(self, reason: str) -> None:
        """Ask for a global round; a routine trigger never hides a waiting one that asks the
        agent for sure (the round sees only the reason kept here)."""
        if self.global_wanted in (None, *ROUTINE_TRIGGERS):
            self.global_wanted = reason


def stuck_reason(work: TrackWork) -> str | None:
    """Why a track can make no progress without a human, or None while it can."""
    if work.startable or work.running or work.unfinished == 0:
        return None
    parts = []
    if work.failed:
        parts.append(f"{work.failed} work orders failed")
    parts.extend(f"{wo} waits on {'/'.join(deps)}" for wo, deps in work.waiting.items())
    detail = "; ".join(parts) or "unfinished work orders cannot start"
    return f"{detail} (see `orch wo list --track {work.track.id}`, then `orch track resume`)"


def over_budget(work: TrackWork) -> bool:
    """A track the global agent gave a budget (set_track_budget) gets no slot once spent."""
    budget = work.track.budget_usd
    return budget is not None and work.cost_usd >= budget


class Supervisor:
    def __init__(self, ctx: DaemonContext) -> None:
        self.ctx = ctx
        self.state = SupervisorState()
        self.organizer = AutoOrganizer(ctx, on_done=self._wake)
        #: The track leases this host holds (one daemon among several on a shared DB).
        self.ownership = Ownership(ctx)
        self.experiments = ExperimentPump(ctx, self.ownership)
        #: The run's task group (set by ``_loop``): decisions are started in it, beside steps.
        self._tg: anyio.abc.TaskGroup | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def acquire_lease(self) -> None:
        """Take this home's lease; raises DaemonRunningError while another daemon lives.

        Called before any task group is opened, so the refusal reaches the CLI as the one
        clear error it is, not wrapped in an exception group.
        """
        ctx = self.ctx
        await anyio.to_thread.run_sync(
            lambda: ctx.store.acquire_lease(
                ctx.daemon_id, os.getpid(), socket.gethostname(), ctx.settings.daemon.lease_ttl_s
            )
        )
        await register_host(ctx)
        # Journaled so a dashboard in another process can show the time and budget left.
        await anyio.to_thread.run_sync(
            lambda: ctx.store.note_run_limits(
                ctx.daemon_id, ctx.options.until, ctx.options.budget_usd
            )
        )

    async def run(self) -> str:
        """Run until a stop; returns the stop reason. Takes the lease unless
        ``acquire_lease`` did already, and releases it at the end."""
        ctx = self.ctx
        store = ctx.store
        lease = await anyio.to_thread.run_sync(store.current_lease)
        if lease is None or lease.holder != ctx.daemon_id:
            await self.acquire_lease()
        ctx.started_at = datetime.now(UTC)
        ctx.log.info("daemon_started", daemon_id=ctx.daemon_id, pid=os.getpid())
        await anyio.to_thread.run_sync(store.note_daemon_started, ctx.daemon_id)
        try:
            # Leases a killed daemon of this home left are this home's again.
            await self.ownership.renew()
            await recover(ctx)
            await self._probe_backend()
            scheduler = self._scheduler()
            async with anyio.create_task_group() as tg:
                scheduler.start()
                try:
                    await self._loop(tg)
                finally:
                    scheduler.shutdown(wait=False)
                    with anyio.CancelScope(shield=True):
                        await self._drain()
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                # Its work is checkpointed and pushed: another host may take it at once.
                await self.ownership.release_all()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: store.release_lease(ctx.daemon_id))
        reason = ctx.stop_reason or "stopped"
        ctx.log.info("daemon_stopped", reason=reason)
        return reason

    def request_stop(self, reason: str) -> None:
        if self.ctx.stop_reason is None:
            self.ctx.stop_reason = reason
            self.ctx.log.info("stop_requested", reason=reason)
        self._wake()

    def _wake(self) -> None:
        self.state.wake.set()

    async def _probe_backend(self) -> None:
        """Before anything is dispatched: a backend that cannot work parks the run at once."""
        ctx = self.ctx
        env = dict(ctx.session_env)
        config_dir = ctx.config_dir("backend-probe")
        if config_dir is not None:
            env["CLAUDE_CONFIG_DIR"] = str(config_dir)
        try:
            await ctx.runtime.probe(env)
        except (BackendUnavailableError, BackendUnreachableError) as exc:
            await self.park(exc)

    async def park(self, error: BaseException) -> None:
        """Park the run: no session can work until a human acts (the error says what)."""
        ctx = self.ctx
        line = str(error)
        if ctx.stop_reason is not None and ctx.stop_reason.startswith("parked"):
            return  # one park line per run, however many sessions ran into it
        park = Park(ParkScope.RUN, ctx.daemon_id, line, datetime.now(UTC))
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(ctx.store.record_park, park)
        ctx.log.error("run_parked", reason=line)
        self.request_stop(f"parked: {line}")

    def _scheduler(self) -> AsyncIOScheduler:
        settings = self.ctx.settings.daemon
        scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        scheduler.add_job(self._heartbeat, "interval", seconds=settings.heartbeat_interval_s)
        scheduler.add_job(
            self._want_global, "interval", seconds=settings.global_interval_s, args=["interval"]
        )
        scheduler.add_job(self._wake, "interval", seconds=settings.dispatch_interval_s)
        scheduler.add_job(self._wake, "interval", seconds=HOUSEKEEPING_INTERVAL_S)
        return scheduler

    async def _heartbeat(self) -> None:
        ctx = self.ctx
        why = await anyio.to_thread.run_sync(
            lambda: ctx.store.beat(ctx.daemon_id, ctx.settings.daemon.lease_ttl_s)
        )
        if why is not None:
            self.request_stop(why)
        for track_id in await self.ownership.renew():
            # Another host found the lease expired (this one stalled) and took the track.
            ctx.log.warning("track_lease_lost", track_id=track_id)
            scope = self.state.track_scopes.get(track_id)
            if scope is not None:
                scope.cancel()
        await self.ownership.release_inactive(in_use=set(self.state.track_scopes))
        if ctx.stop_reason is None and await self.ownership.take_over():
            self._wake()
        # A dead daemon's decision runs: on a shared store no restart of its own may come.
        settled = await anyio.to_thread.run_sync(
            settle_abandoned_decisions, ctx.store, ctx.daemon_id
        )
        if settled:
            ctx.log.warning("decision_runs_settled", run_ids=settled)

    def _want_global(self, reason: str) -> None:
        self.state.want_global(reason)
        self._wake()

    # -- the loop --------------------------------------------------------------------------

    async def _loop(self, tg: anyio.abc.TaskGroup) -> None:
        ctx = self.ctx
        self._tg = ctx.aside = tg
        while ctx.stop_reason is None:
            self.state.wake = anyio.Event()
            # Busy at the start counts too: a task that ends while this round reads the
            # state leaves work the round did not see (the next round will).
            was_busy = self._busy()
            await self._check_limits()
            if ctx.stop_reason is not None:
                break
            # No new session near the usage limit, nor once the budget is all handed out.
            held = ctx.new_sessions_held() or self.state.budget_spent
            # The global agent runs beside the slots: dispatch goes on with the latest weights.
            if self.state.global_wanted and not self.state.global_running and not held:
                reason, self.state.global_wanted = self.state.global_wanted, None
                self.state.global_running = True
                tg.start_soon(self._global_round, reason)
            if not held:
                await self.organizer.poll(tg)
            stepped = await self.experiments.round(self._spawner(tg))
            activated = await self._activate_ready_tracks()
            started = (0 if held else await self._dispatch(tg)) + stepped
            # Held work is waiting for the reset, not idle.
            busy = was_busy or self._busy() or held
            if ctx.options.exit_when_idle and not (busy or started or activated):
                busy = await self._others_working()
            if ctx.options.exit_when_idle and not (busy or started or activated):
                self.request_stop("idle: no work left that can start")
                break
            with anyio.move_on_after(ctx.settings.daemon.dispatch_interval_s):
                await self.state.wake.wait()

    async def _others_working(self) -> bool:
        """Another host holds active tracks: the run is not idle while it works them (should
        it die, this host takes them over once their leases expire)."""
        return bool(await self.ownership.elsewhere())

    def _spawner(self, tg: anyio.abc.TaskGroup) -> Any:
        """Starts an experiment's long step (an evaluation, a decision) under ``key`` in
        ``track_scopes``: it counts as busy, excludes a worker on the same track, and a
        stop drains it like a track step."""

        def spawn(key: str, work: Callable[[], Awaitable[None]]) -> bool:
            if key in self.state.track_scopes:
                return False
            scope = anyio.CancelScope()
            self.state.track_scopes[key] = scope

            async def run() -> None:
                try:
                    with scope:
                        await work()
                finally:
                    self.state.track_scopes.pop(key, None)
                    self._wake()

            tg.start_soon(run)
            return True

        return spawn

    def _in_use(self) -> int:
        """Agent slots taken: track steps (and experiment steps) and the organizer. The
        decision agents take none (they run beside)."""
        return len(self.state.track_scopes) + len(self.organizer.running)

    def _busy(self) -> bool:
        """A step, the organizer or a takeover is running. Decisions alone are not work: the global
        agent only weighs tracks, and a project agent only chooses among WOs another step
        can start, so once nothing can start there is nothing to decide (a stop ends them)."""
        return (
            bool(self.state.track_scopes)
            or bool(self.organizer.running)
            or bool(self.ownership.adopting)
        )

    async def _check_limits(self) -> None:
        ctx = self.ctx
        options = ctx.options
        if options.until is not None and datetime.now(UTC) >= options.until:
            self.request_stop(f"deadline {options.until:%H:%M} reached")
        budget = ctx.budget
        if budget is not None and ctx.started_at is not None:
            spent = await anyio.to_thread.run_sync(lambda: ctx.store.cost_since(ctx.started_at))
            # Workers in flight hold shares of it; they finish (within their shares), and
            # decision sessions are ended by the stop. No figure in the reason: the run's
            # total is the report's, given with it.
            self.state.budget_spent = budget.exhausted(spent)
            drained = self.state.budget_spent and not budget.workers_in_flight()
            if spent >= budget.budget_usd or drained:
                self.request_stop(f"budget ${budget.budget_usd:.2f} reached")

    async def _activate_ready_tracks(self) -> int:
        """Activate ready tracks (creating worktrees) while fewer than max_agents are active."""
        ctx = self.ctx
        store = ctx.store
        ready = await anyio.to_thread.run_sync(store.ready_track_ids)
        if not ready:
            return 0  # the common round: nothing to activate, so no need to count the busy
        active = await anyio.to_thread.run_sync(lambda: store.track_work())
        # A track counts against the limit while it has work that can start or is running;
        # another host's tracks count against that host's slots, not these.
        elsewhere = await self.ownership.elsewhere()
        busy = sum(
            1
            for w in active
            if w.track.id not in elsewhere
            and (w.startable or w.running or w.track.id in self.state.track_scopes)
        )
        activated = 0
        for track_id in ready:
            if busy >= ctx.options.max_agents:
                break
            track = await anyio.to_thread.run_sync(store.get_track, track_id)
            if not await self.ownership.take(track):
                continue  # another host is activating it
            try:
                await anyio.to_thread.run_sync(
                    activate_track,
                    store,
                    ctx.settings.workspaces_dir,
                    track_id,
                    "activated by the daemon",
                )
            except OrchestratorError as exc:
                ctx.log.warning("activate_failed", track_id=track_id, error=str(exc))
                await self.ownership.release(track_id)
                continue
            activated += 1
            busy += 1
        if activated:
            self._want_global(TRACKS_ACTIVATED)
        return activated

    async def _dispatch(self, tg: anyio.abc.TaskGroup) -> int:
        ctx = self.ctx
        state = self.state
        # Two startable WOs are enough to tell whether the track's next pick is a choice.
        work = await anyio.to_thread.run_sync(lambda: ctx.store.track_work(shown=2))
        # Other hosts' tracks, and those being taken over here (not workable yet).
        elsewhere = await self.ownership.elsewhere() | self.ownership.adopting
        for done in work:
            # An experiment's variant is evaluated, not merged, when its WOs are done.
            if done.unfinished or done.track.experiment or done.track.id in elsewhere:
                continue
            if not done.total and await self._block_if_empty(done):
                continue
            # Its last WOs were settled outside a track step (by recovery): finish it, unless
            # a step finished it meanwhile (``work`` may be stale by now).
            fresh = await anyio.to_thread.run_sync(ctx.store.get_track, done.track.id)
            # A parent waiting on its sub-tracks stays active: nothing changed.
            if (
                fresh.status == TrackStatus.ACTIVE.value
                and fresh.id not in state.track_scopes
                and await finish_track(ctx, fresh) is not TrackStatus.ACTIVE
            ):
                self._want_global(TRACK_FINISHED)
        free = ctx.options.max_agents - self._in_use()
        candidates = {
            w.track.id: w
            for w in work
            if w.startable
            and w.track.id not in state.track_scopes
            and w.track.id not in elsewhere
            and not over_budget(w)
        }
        # Over every active track, not only the candidates: a variant alone in line still
        # gets its experiment's mean weight.
        weights = share_within_groups(
            {t.track.id: t.track.weight for t in work},
            {t.track.id: t.track.experiment for t in work if t.track.experiment},
        )
        chosen = choose_tracks(
            [
                Candidate(t.track.id, weights[t.track.id], t.track.created_at)
                for t in candidates.values()
            ],
            free,
            state.passes,
        )
        for track_id in chosen:
            scope = anyio.CancelScope()
            state.track_scopes[track_id] = scope
            tg.start_soon(self._track_step, candidates[track_id], scope)
        return len(chosen)

    async def _block_if_empty(self, work: TrackWork) -> bool:
        """An active track without WOs or sub-tracks would stay active forever: block it.

        True when it was blocked; a parent whose WOs all sit in sub-tracks is finished (or
        waits for them) like any other track.
        """
        store = self.ctx.store
        if await anyio.to_thread.run_sync(store.subtracks, work.track.id):
            return False
        reason = (
            "the track has no work orders: assign some (`orch track assign "
            f"{work.track.id} WO-ID...`), then `orch track resume {work.track.id}`"
        )
        await anyio.to_thread.run_sync(
            lambda: store.set_track_status(
                work.track.id, TrackStatus.PAUSED, reason=reason, blocked_reason=reason
            )
        )
        self.ctx.log.warning("track_blocked", track_id=work.track.id, reason=reason)
        return True

    async def _track_step(self, work: TrackWork, scope: anyio.CancelScope) -> None:
        """Choose the track's next WO (asking its project agent when there is a choice), run it."""
        ctx = self.ctx
        track = work.track
        try:
            with scope:
                if not await self.ownership.take(track):
                    return  # another host took it since the dispatch read the leases
                # An interrupted WO goes first: its uncommitted files are in the worktree, and
                # another WO's commit must not sweep them up.
                interrupted = await anyio.to_thread.run_sync(
                    ctx.store.interrupted_wo_of_track, track.id
                )
                wanted = [*([interrupted] if interrupted else []), *track.wo_queue]
                startable = await anyio.to_thread.run_sync(
                    ctx.store.startable_among, track.id, wanted
                )
                queue = [w for w in dict.fromkeys(wanted) if w in startable]
                # No queue chosen yet (a track's first WO, or its agent is still choosing):
                # the most important startable WO goes first, the project agent chooses the
                # ones behind it while it runs. The slot never waits for a decision.
                if not queue:
                    queue = [w["id"] for w in work.startable[:1]]
                wo_id, rest = queue[0], queue[1:]
                if await anyio.to_thread.run_sync(ctx.store.retry_pending, wo_id):
                    # A retried WO runs on the base branch's fix: merge it in first (a
                    # conflict blocks the track, naming the files).
                    blocked = await anyio.to_thread.run_sync(
                        take_base, ctx.store, ctx.log, track.id
                    )
                    if blocked is not None:
                        self._want_global("track blocked")
                        return
                # A decision in flight writes the queue itself: do not overwrite it.
                if track.wo_queue and track.id not in self.state.deciding:
                    await anyio.to_thread.run_sync(lambda: ctx.store.set_queue(track.id, rest))
                fresh = await anyio.to_thread.run_sync(lambda: ctx.store.get_track(track.id))
                if (not rest and len(work.startable) > 1) or self._queue_is_stale(work):
                    # The queue ends with this WO, or the ready set changed under it: the
                    # project agent chooses the next ones while it runs (and past its end,
                    # if need be: the next step then takes the most important startable
                    # WO, and the decision the ones behind).
                    self._decide_beside(track.id, wo_id)
                await run_work_order(ctx, fresh, wo_id)
                await self._after_step(track.id)
        except ClaimConflictError as exc:
            ctx.log.warning("claim_conflict", track_id=track.id, error=str(exc))
        except (BackendUnavailableError, BackendUnreachableError) as exc:
            await self.park(exc)
        except OrchestratorError as exc:
            ctx.log.error("track_step_failed", track_id=track.id, error=str(exc))
        finally:
            self.state.track_scopes.pop(track.id, None)
            self._wake()

    def _queue_is_stale(self, work: TrackWork) -> bool:
        """Whether one of the track's most important startable WOs is one its project agent
        was not offered when it chose the queue (a long queue stays true to the ready set;
        a less important newcomer waits for the next decision)."""
        offered = self.state.offered.get(work.track.id)
        return offered is not None and any(w["id"] not in offered for w in work.startable)

    def _decide_beside(self, track_id: str, running: str) -> None:
        """Start the track's project agent in the run's task group, unless one is choosing
        for it already; it holds no slot, and a stop ends it."""
        state, tg = self.state, self._tg
        if track_id in state.deciding or tg is None:
            return
        scope = anyio.CancelScope()
        state.deciding[track_id] = scope

        async def decide() -> None:
            try:
                with scope:
                    await self._decide_next(track_id, running)
            except (BackendUnavailableError, BackendUnreachableError) as exc:
                await self.park(exc)
            finally:
                state.deciding.pop(track_id, None)
                self._wake()

        tg.start_soon(decide)

    async def _decide_next(self, track_id: str, running: str) -> None:
        """Ask the track's project agent for its next queue, among the WOs that can start
        besides ``running``; nothing to ask when at most one is left (no choice)."""
        ctx = self.ctx
        rows = await anyio.to_thread.run_sync(
            lambda: ctx.store.track_work(shown=STARTABLE_SHOWN + 1, track_id=track_id)
        )
        if not rows:
            return
        left = [w for w in rows[0].startable if w["id"] != running][:STARTABLE_SHOWN]
        self.state.offered[track_id] = frozenset([running, *(w["id"] for w in left)])
        if len(left) < 2:
            return
        try:
            await run_project_agent(ctx, replace(rows[0], startable=left))
        except OrchestratorError as exc:
            ctx.log.warning("decision_failed", track_id=track_id, error=str(exc))

    async def _after_step(self, track_id: str) -> None:
        ctx = self.ctx
        rows = await anyio.to_thread.run_sync(lambda: ctx.store.track_work(track_id=track_id))
        work = next(iter(rows), None)
        if work is None or work.total == 0:
            return
        if work.unfinished == 0 and work.track.experiment:
            return  # the experiment's round evaluates it
        if work.unfinished == 0:
            if await finish_track(ctx, work.track) is not TrackStatus.ACTIVE:
                self._want_global(TRACK_FINISHED)
            return
        reason = stuck_reason(work)
        if reason is not None:
            await anyio.to_thread.run_sync(
                lambda: ctx.store.set_track_status(
                    track_id, TrackStatus.PAUSED, reason=reason, blocked_reason=reason
                )
            )
            ctx.log.warning("track_blocked", track_id=track_id, reason=reason)
            self._want_global("track blocked")

    async def _global_round(self, reason: str) -> None:
        try:
            await run_global_agent(self.ctx, reason)
        except (BackendUnavailableError, BackendUnreachableError) as exc:
            await self.park(exc)
        except OrchestratorError as exc:
            self.ctx.log.error("global_round_failed", error=str(exc))
        finally:
            self.state.global_running = False
            self._wake()

    async def _drain(self) -> None:
        """Interrupt every running track step; each checkpoints and settles its run."""
        for scope in list(self.state.track_scopes.values()):
            scope.cancel()
        with anyio.move_on_after(self.ctx.settings.daemon.shutdown_grace_s):
            while self.state.track_scopes:
                await anyio.sleep(0.05)
