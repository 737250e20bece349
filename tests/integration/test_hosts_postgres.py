"""Track leases and named locks on PostgreSQL (READ COMMITTED): of hosts racing for one
expired lease, one free track, or one lock, exactly one wins. Without a server they skip
(``tests.support.postgres``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from orchestrator.store.sqlite_store import SQLiteStore, open_store
from tests.support.postgres import pg_url  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RACERS = 8


def race(url: str, attempt: Callable[[SQLiteStore, int], bool]) -> list[int]:
    """Run ``attempt`` in RACERS threads at once, each with its own engine; the winners."""
    stores = [open_store(url, migrate=False) for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)
    won: list[int] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            if attempt(stores[i], i):
                won.append(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for store in stores:
        store.close()
    assert errors == []
    return won


@pytest.fixture
def url(pg_url: str) -> str:  # noqa: F811
    store = open_store(pg_url)
    store.add_project("p", "/nonexistent/p", "main", "")
    store.create_track("p", "t1", "feature")
    for i in range(RACERS):
        store.register_host(f"h{i}", "box", f"/homes/h{i}", None)
    store.close()
    return pg_url


def test_one_host_takes_a_free_track(url: str) -> None:
    won = race(url, lambda s, i: s.acquire_track_lease("t1", f"h{i}", 600.0) is not None)
    assert len(won) == 1
    check = open_store(url, migrate=False)
    lease = check.track_lease("t1")
    assert lease is not None and lease.host_id == f"h{won[0]}"
    check.close()


def test_one_host_steals_an_expired_lease(url: str) -> None:
    setup = open_store(url, migrate=False)
    setup.register_host("dead", "box", "/homes/dead", None)
    assert setup.acquire_track_lease("t1", "dead", 0.0) is not None
    setup.close()
    won = race(url, lambda s, i: s.steal_track_lease("t1", f"h{i}", 600.0) is not None)
    assert len(won) == 1
    check = open_store(url, migrate=False)
    lease = check.track_lease("t1")
    assert lease is not None and lease.host_id == f"h{won[0]}"
    assert check.renew_track_leases("dead", 600.0) == []
    check.close()


def test_one_holder_of_an_expired_lock(url: str) -> None:
    setup = open_store(url, migrate=False)
    assert setup.try_lock("merge:p", "dead", 0.0)
    setup.close()
    won = race(url, lambda s, i: s.try_lock("merge:p", f"h{i}", 600.0))
    assert len(won) == 1
