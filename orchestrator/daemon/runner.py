"""Entry points the CLI calls: run the daemon, recover, each with its backend and report."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog

from orchestrator.config import Settings
from orchestrator.daemon.backend import Backend, open_backend
from orchestrator.daemon.context import DaemonContext, RunOptions
from orchestrator.daemon.experiments import ExperimentPump
from orchestrator.daemon.hosting import register_host
from orchestrator.daemon.organizer import OrganizeOutcome, run_organizer
from orchestrator.daemon.ownership import Ownership
from orchestrator.daemon.recovery import recover
from orchestrator.daemon.report import RunReport, write_report
from orchestrator.daemon.sandboxing import require_sandbox, sandbox_mode
from orchestrator.daemon.supervisor import Supervisor
from orchestrator.daemon.worker_run import run_work_order
from orchestrator.domain.budget import RunBudget
from orchestrator.domain.organization import OrganizeMode
from orchestrator.host_identity import place_store
from orchestrator.store.contract import Store

Ticker = Callable[[DaemonContext], Awaitable[None]]
#: Seconds during which more stop signals count as copies of the first one.
SIGNAL_ECHO_S = 1.0


def new_daemon_id() -> str:
    return f"daemon-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _context(settings: Settings, store: Store, options: RunOptions, backend: Any) -> DaemonContext:
    if store.here is None:
        # The lease, the track leases and the project checkouts are this home's.
        place_store(store, settings)
    daemon_id = new_daemon_id()
    return DaemonContext(
        settings=settings,
        store=store,
        runtime=backend.runtime,
        daemon_id=daemon_id,
        options=options,
        session_env=backend.session_env,
        limiter=anyio.CapacityLimiter(options.max_agents),
        budget=RunBudget(options.budget_usd, options.max_agents) if options.budget_usd else None,
        log=structlog.get_logger("orchestrator.daemon").bind(daemon_id=daemon_id),
    )


async def _watch_signals(supervisor: Supervisor, ctx: DaemonContext) -> None:
    """First SIGINT/SIGTERM: graceful stop. Another one later: end the CLIs, exit at once.

    Copies of the first signal (the same signal) that arrive within ``SIGNAL_ECHO_S`` of it
    are the same request: GNU ``timeout`` sends SIGTERM to its child and then to the child's
    process group. A different signal, or one after that second, is a second request. The DB
    stays consistent either way: every state change is its own committed transaction, and
    runs left marked live are found by the next recovery.
    """
    first: tuple[int, float] | None = None
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if first is None:
                    first = (signum, time.monotonic())
                    supervisor.request_stop(f"signal {signal.Signals(signum).name}")
                    continue
                if _is_copy(first, signum):
                    ctx.log.info("signal_repeated", signal=signal.Signals(signum).name)
                    continue
                _kill_clis(ctx)
    finally:
        if first is not None:
            # The stop is under way and the receiver is gone: a late copy must not kill the
            # process (default action) while it writes the report and releases the lease.
            _ignore_copies_of(first)


def _is_copy(first: tuple[int, float], signum: int) -> bool:
    return signum == first[0] and time.monotonic() - first[1] < SIGNAL_ECHO_S


def _ignore_copies_of(first: tuple[int, float]) -> None:
    def handler(signum: int, _frame: object) -> None:
        if not _is_copy(first, signum):
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _kill_clis(ctx: DaemonContext) -> None:
    """A second stop signal: end the CLIs and exit at once (status 130).

    What the CLIs spawned is marked with this home's owner id: the next recovery ends any of
    it that outlives this exit.
    """
    for pid in ctx.runtime.live_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(130)


@asynccontextmanager
async def _given(backend: Backend) -> AsyncIterator[Backend]:
    yield backend


async def run_daemon(
    settings: Settings,
    store: Store,
    options: RunOptions,
    ticker: Ticker | None = None,
    backend: Backend | None = None,
) -> RunReport:
    """`orch run`: recover, then dispatch until a limit, idleness or a stop; write the report.

    ``backend`` replaces the configured one (tests pass a ``FakeRuntime`` this way).
    """
    require_sandbox(settings)
    opened = _given(backend) if backend is not None else open_backend(settings, store)
    async with opened as backend:
        ctx = _context(settings, store, options, backend)
        supervisor = Supervisor(ctx)
        await supervisor.acquire_lease()
        started = datetime.now(UTC)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, supervisor, ctx)
            if ticker is not None:
                tg.start_soon(_tick_forever, ticker, ctx)
            try:
                reason = await supervisor.run()
            finally:
                tg.cancel_scope.cancel()
    return await anyio.to_thread.run_sync(
        write_report, store, settings.reports_dir, started, reason, sandbox_mode(settings)
    )


async def _tick_forever(ticker: Ticker, ctx: DaemonContext) -> None:
    while True:
        await ticker(ctx)
        await anyio.sleep(1.0)


async def run_recover(
    settings: Settings,
    store: Store,
    options: RunOptions,
    *,
    only_run: str | None = None,
    only_track: str | None = None,
    resume: bool = True,
    backend: Backend | None = None,
) -> tuple[list[dict[str, Any]], RunReport | None]:
    """`orch recover`: repair state, then resume the interrupted worker sessions to their end.

    The lease is held (and heartbeated) throughout, so no daemon starts meanwhile and takes
    the resumed sessions for interrupted ones; `orch stop` interrupts them.
    """
    import socket

    if resume:
        require_sandbox(settings)
    opened = _given(backend) if backend is not None else open_backend(settings, store)
    async with opened as backend:
        ctx = _context(settings, store, options, backend)
        await anyio.to_thread.run_sync(
            lambda: store.acquire_lease(
                ctx.daemon_id, os.getpid(), socket.gethostname(), settings.daemon.lease_ttl_s
            )
        )
        # The track leases of the sessions it resumes name this host.
        await register_host(ctx)
        started = datetime.now(UTC)
        ctx.started_at = started
        actions: list[dict[str, Any]] = []
        to_resume: list[dict[str, Any]] = []
        ownership = Ownership(ctx)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_keep_lease, ctx, tg.cancel_scope, ownership)
                actions = await recover(ctx, only_run=only_run, only_track=only_track)
                to_resume = [
                    a for a in actions if a["wo"] and a["action"].startswith(("resume", "restart"))
                ]
                if resume and to_resume:
                    async with anyio.create_task_group() as sessions:
                        for action in to_resume:
                            sessions.start_soon(_resume_one, ctx, ownership, action)
                if resume:
                    # Experiments whose variants are done: evaluate, decide, land, clean up.
                    await ExperimentPump(ctx, ownership).round()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await ownership.release_all()
                await anyio.to_thread.run_sync(lambda: store.release_lease(ctx.daemon_id))
    if not resume or not to_resume:
        return actions, None
    report = await anyio.to_thread.run_sync(
        write_report,
        store,
        settings.reports_dir,
        started,
        "recovery finished",
        sandbox_mode(settings),
    )
    return actions, report


async def run_organize(
    settings: Settings,
    store: Store,
    project: str,
    mode: OrganizeMode | None = None,
    backend: Backend | None = None,
) -> OrganizeOutcome:
    """`orch organize`: one organizer session for ``project``; the proposal waits for review."""
    require_sandbox(settings)
    opened = _given(backend) if backend is not None else open_backend(settings, store)
    async with opened as backend:
        ctx = _context(settings, store, RunOptions(max_agents=1), backend)
        return await run_organizer(ctx, project, mode, trigger="manual")


async def _keep_lease(ctx: DaemonContext, scope: anyio.CancelScope, ownership: Ownership) -> None:
    """Heartbeat the lease and the track leases of the sessions resumed; on `orch stop` (or
    a lost lease) cancel ``scope``."""
    daemon = ctx.settings.daemon
    while True:
        await anyio.sleep(daemon.heartbeat_interval_s)
        await ownership.renew()
        why = await anyio.to_thread.run_sync(
            lambda: ctx.store.beat(ctx.daemon_id, daemon.lease_ttl_s)
        )
        if why is not None:
            ctx.stop_reason = ctx.stop_reason or why
            ctx.log.info("stop_requested", reason=ctx.stop_reason)
            scope.cancel()
            return


async def _resume_one(ctx: DaemonContext, ownership: Ownership, action: dict[str, Any]) -> None:
    async with ctx.limiter:
        track = await anyio.to_thread.run_sync(ctx.store.get_track, action["track"])
        if track.status != "active" or not await ownership.take(track):
            return  # not workable, or another host's now
        await run_work_order(ctx, track, action["wo"])
