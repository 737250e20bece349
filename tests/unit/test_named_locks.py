"""Named locks in the database (the merge lock): one holder, expiry, a bounded wait."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from orchestrator.daemon.host_locks import held_here
from orchestrator.store.named_locks import LockTimeoutError
from orchestrator.store.sqlite_store import SQLiteStore


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[SQLiteStore]]:
    path = tmp_path / "shared.db"
    opened = [SQLiteStore.open(path) for _ in range(2)]
    yield opened
    for store in opened:
        store.close()


def test_one_holder_at_a_time(stores: list[SQLiteStore]) -> None:
    a, b = stores
    assert a.try_lock("merge:p", "alpha", 60.0)
    assert a.try_lock("merge:p", "alpha", 60.0)  # ours already
    assert not b.try_lock("merge:p", "beta", 60.0)
    assert b.try_lock("merge:q", "beta", 60.0)  # another name is another lock
    b.unlock("merge:p", "beta")  # not the holder: nothing happens
    assert not b.try_lock("merge:p", "beta", 60.0)
    a.unlock("merge:p", "alpha")
    assert b.try_lock("merge:p", "beta", 60.0)


def test_an_expired_lock_is_taken(stores: list[SQLiteStore]) -> None:
    a, b = stores
    assert a.try_lock("merge:p", "alpha", 0.0)  # its holder died: expired at once
    assert b.try_lock("merge:p", "beta", 60.0)
    assert not a.try_lock("merge:p", "alpha", 60.0)


def test_holding_waits_a_bounded_time_then_refuses(stores: list[SQLiteStore]) -> None:
    a, b = stores
    with (
        a.holding("merge:p", "alpha", 60.0, 1.0),
        pytest.raises(LockTimeoutError, match="merge:p"),
        b.holding("merge:p", "beta", 60.0, 0.2),
    ):
        pass
    with b.holding("merge:p", "beta", 60.0, 1.0):
        assert not a.try_lock("merge:p", "alpha", 60.0)
    assert a.try_lock("merge:p", "alpha", 60.0)  # released at the block's end


async def test_held_here_renews_the_lock_while_the_work_runs(stores: list[SQLiteStore]) -> None:
    """A lock whose TTL is a fraction of the work's length stays held throughout (the
    heartbeat renews it), is refused to the other host meanwhile and released at the end."""
    a, b = stores
    ttl_s = 0.3
    daemon = SimpleNamespace(lease_ttl_s=ttl_s, heartbeat_interval_s=0.05)
    ctx: Any = SimpleNamespace(store=a, daemon_id="alpha", settings=SimpleNamespace(daemon=daemon))
    async with held_here(ctx, "organize:p") as ours:
        assert ours
        start = time.monotonic()
        while time.monotonic() - start < 4 * ttl_s:
            assert not b.try_lock("organize:p", "beta", 60.0)
            await anyio.sleep(0.05)
    assert b.try_lock("organize:p", "beta", 60.0)
    async with held_here(ctx, "organize:p") as ours:
        assert not ours  # beta holds it now
