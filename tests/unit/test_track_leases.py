"""Track leases on a real SQLite file: one host per track, expiry, refusal, takeover.

Several hosts are several ``SQLiteStore`` objects (own engines) on one database file, as
several homes sharing one database are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.hosts import host_id_from, validate_host_id
from orchestrator.store.sqlite_store import SQLiteStore

LIVE_S = 600.0
#: A time to live of zero: the lease is expired the moment it is written (no sleeping).
GONE_S = 0.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shared.db"
    store = SQLiteStore.open(path)
    store.add_project("p", str(tmp_path), "main", "")
    for name in ("t1", "t2"):
        store.create_track("p", name, "feature")
    for host in ("alpha", "beta", "gamma"):
        store.register_host(host, "machine", f"/homes/{host}", 100)
    store.close()
    return path


@pytest.fixture
def hosts(db: Path) -> Iterator[dict[str, SQLiteStore]]:
    stores = {h: SQLiteStore.open(db) for h in ("alpha", "beta", "gamma")}
    yield stores
    for store in stores.values():
        store.close()


def test_a_free_track_goes_to_the_first_host_and_is_refused_to_the_next(
    hosts: dict[str, SQLiteStore],
) -> None:
    lease = hosts["alpha"].acquire_track_lease("t1", "alpha", LIVE_S)
    assert lease is not None and lease.host_id == "alpha" and lease.ttl_s == LIVE_S
    assert hosts["beta"].acquire_track_lease("t1", "beta", LIVE_S) is None
    assert hosts["beta"].track_lease("t1") == lease
    # Another track is free for beta.
    other = hosts["beta"].acquire_track_lease("t2", "beta", LIVE_S)
    assert other is not None and other.host_id == "beta"


def test_acquiring_again_renews_our_own_lease(hosts: dict[str, SQLiteStore]) -> None:
    first = hosts["alpha"].acquire_track_lease("t1", "alpha", GONE_S)
    again = hosts["alpha"].acquire_track_lease("t1", "alpha", LIVE_S)
    assert first is not None and again is not None
    assert again.acquired_at == first.acquired_at
    assert again.expires_at > first.expires_at
    assert not again.expired(datetime.now(UTC))


def test_an_expired_lease_is_not_simply_acquired_but_stolen_once(
    hosts: dict[str, SQLiteStore],
) -> None:
    assert hosts["alpha"].acquire_track_lease("t1", "alpha", GONE_S) is not None
    assert hosts["beta"].acquire_track_lease("t1", "beta", LIVE_S) is None
    assert [x.track_id for x in hosts["beta"].expired_track_leases("beta")] == ["t1"]
    assert hosts["alpha"].expired_track_leases("alpha") == []  # its own is not a takeover
    takeover = hosts["beta"].steal_track_lease("t1", "beta", LIVE_S)
    assert takeover is not None
    assert takeover.previous_host == "alpha" and takeover.lease.host_id == "beta"
    # Live now: nobody else steals it, and the old holder's renewal no longer includes it.
    assert hosts["gamma"].steal_track_lease("t1", "gamma", LIVE_S) is None
    assert hosts["alpha"].renew_track_leases("alpha", LIVE_S) == []
    assert hosts["alpha"].release_track_lease("t1", "alpha") is False
    assert hosts["gamma"].track_lease("t1") == takeover.lease


def test_a_live_lease_cannot_be_stolen(hosts: dict[str, SQLiteStore]) -> None:
    assert hosts["alpha"].acquire_track_lease("t1", "alpha", LIVE_S) is not None
    assert hosts["beta"].expired_track_leases("beta") == []
    assert hosts["beta"].steal_track_lease("t1", "beta", LIVE_S) is None
    assert hosts["beta"].steal_track_lease("t2", "beta", LIVE_S) is None  # free: acquire it
    assert hosts["alpha"].steal_track_lease("t1", "alpha", LIVE_S) is None  # ours already


def test_a_heartbeat_keeps_an_expired_lease_nobody_took(hosts: dict[str, SQLiteStore]) -> None:
    hosts["alpha"].acquire_track_lease("t1", "alpha", GONE_S)
    hosts["alpha"].acquire_track_lease("t2", "alpha", GONE_S)
    renewed = hosts["alpha"].renew_track_leases("alpha", LIVE_S)
    assert [x.track_id for x in renewed] == ["t1", "t2"]
    assert all(not x.expired(datetime.now(UTC)) for x in renewed)
    assert hosts["beta"].steal_track_lease("t1", "beta", LIVE_S) is None


def test_expiring_a_host_hands_its_tracks_over_at_once(hosts: dict[str, SQLiteStore]) -> None:
    hosts["alpha"].acquire_track_lease("t1", "alpha", LIVE_S)
    assert hosts["beta"].expire_host_leases("alpha") == ["t1"]
    takeover = hosts["beta"].steal_track_lease("t1", "beta", LIVE_S)
    assert takeover is not None and takeover.previous_host == "alpha"


def test_release_frees_the_track_for_anyone(hosts: dict[str, SQLiteStore]) -> None:
    hosts["alpha"].acquire_track_lease("t1", "alpha", LIVE_S)
    assert hosts["beta"].release_track_lease("t1", "beta") is False
    assert hosts["alpha"].release_track_lease("t1", "alpha") is True
    assert hosts["beta"].track_lease("t1") is None
    assert hosts["beta"].acquire_track_lease("t1", "beta", LIVE_S) is not None


def test_hosts_list_with_their_leases(hosts: dict[str, SQLiteStore]) -> None:
    hosts["alpha"].acquire_track_lease("t2", "alpha", LIVE_S)
    hosts["alpha"].acquire_track_lease("t1", "alpha", LIVE_S)
    listed = {h.id: h for h in hosts["gamma"].list_hosts()}
    assert sorted(listed) == ["alpha", "beta", "gamma"]
    assert [x.track_id for x in listed["alpha"].leases] == ["t1", "t2"]
    assert listed["beta"].leases == () and listed["beta"].home == "/homes/beta"


def test_racing_thieves_one_wins(hosts: dict[str, SQLiteStore], db: Path) -> None:
    hosts["alpha"].acquire_track_lease("t1", "alpha", GONE_S)
    thieves = [SQLiteStore.open(db) for _ in range(6)]
    won: list[str] = []
    barrier = threading.Barrier(len(thieves))

    def steal(i: int) -> None:
        host = "beta" if i % 2 else "gamma"
        barrier.wait()
        if thieves[i].steal_track_lease("t1", host, LIVE_S) is not None:
            won.append(host)

    threads = [threading.Thread(target=steal, args=(i,)) for i in range(len(thieves))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for store in thieves:
        store.close()
    assert len(won) == 1
    lease = hosts["alpha"].track_lease("t1")
    assert lease is not None and lease.host_id == won[0]


def test_host_ids_are_slugs() -> None:
    assert validate_host_id("build-box-2") == "build-box-2"
    for bad in ("", "-x", "Box", "a/b", "a" * 65, "a b", "../x"):
        with pytest.raises(ValidationError):
            validate_host_id(bad)
    assert host_id_from("Build_Box.local", "0123456789abcdef") == "build-box-local-01234567"
    assert host_id_from("???", "ab" * 8).startswith("host-")
