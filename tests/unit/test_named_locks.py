"""Named locks in the database (the merge lock): one holder, expiry, a bounded wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
