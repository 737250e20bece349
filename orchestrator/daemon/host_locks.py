"""One host at a time: a named lock held for as long as a piece of work runs.

Daemons sharing a database each run their own organizer trigger; a project organized by two
hosts at once would cost two sessions for one proposal. The lock is taken once, renewed at
every heartbeat while the work runs (a host that dies lets it expire within a lease's TTL)
and released when the work ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from orchestrator.daemon.context import DaemonContext


@asynccontextmanager
async def held_here(ctx: DaemonContext, name: str) -> AsyncIterator[bool]:
    """Yields True while this daemon holds ``name`` (renewed meanwhile), False when another
    holder has it: the caller then skips its work."""
    store, holder, daemon = ctx.store, ctx.daemon_id, ctx.settings.daemon
    taken = await anyio.to_thread.run_sync(store.try_lock, name, holder, daemon.lease_ttl_s)
    if not taken:
        yield False
        return

    async def renew() -> None:
        while True:
            await anyio.sleep(daemon.heartbeat_interval_s)
            await anyio.to_thread.run_sync(store.try_lock, name, holder, daemon.lease_ttl_s)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(renew)
            try:
                yield True
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(store.unlock, name, holder)
