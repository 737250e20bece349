"""The hosts part of the store contract: several daemons on one database, each track owned
by one host through a lease with heartbeat. ``SQLiteStore`` implements it (``hosts``);
the answers are domain objects (``domain.hosts``).

The rules of the whole store hold (``store.contract``); a lease change is one conditional
statement, so two hosts racing for one track never both win.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from orchestrator.domain.hosts import Host, Takeover, TrackLease


@runtime_checkable
class HostStore(Protocol):
    def register_host(self, host_id: str, hostname: str, home: str, pid: int | None) -> Host:
        """Record (or refresh) this home as a host; ``pid`` is its daemon's, None if none."""
        ...

    def list_hosts(self) -> list[Host]:
        """Every registered host with the track leases it holds (expired ones included)."""
        ...

    def track_leases(self) -> list[TrackLease]:
        """Every track lease, live or expired, by track (one row per active track worked)."""
        ...

    def track_lease(self, track_id: str) -> TrackLease | None:
        """The track's lease, live or expired, if any host holds one."""
        ...

    def acquire_track_lease(self, track_id: str, host_id: str, ttl_s: float) -> TrackLease | None:
        """Take a free track (or renew our own lease on it); None while another host holds
        it, even past its expiry: taking that is a takeover (``steal_track_lease``)."""
        ...

    def renew_track_leases(self, host_id: str, ttl_s: float) -> list[TrackLease]:
        """The heartbeat: extend every lease ``host_id`` holds; returns those it still holds."""
        ...

    def release_track_lease(self, track_id: str, host_id: str) -> bool:
        """Give the track up; False if it was not ours."""
        ...

    def expire_host_leases(self, host_id: str) -> list[str]:
        """End every lease of ``host_id`` now (a host known to be gone); returns the tracks."""
        ...

    def expired_track_leases(self, host_id: str) -> list[TrackLease]:
        """Other hosts' leases past their expiry: the tracks ``host_id`` could take over."""
        ...

    def steal_track_lease(self, track_id: str, host_id: str, ttl_s: float) -> Takeover | None:
        """Take the track from a host whose lease has expired; None if the lease is live,
        free, ours already, or another host stole it first."""
        ...


@runtime_checkable
class NamedLockStore(Protocol):
    """Locks across every host on the database (``merge:<project>``), by row with expiry."""

    def try_lock(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take ``name`` if it is free, expired or ours; False while another holds it."""
        ...

    def unlock(self, name: str, holder: str) -> None:
        """Release ``name`` if ``holder`` holds it."""
        ...

    def holding(
        self, name: str, holder: str, ttl_s: float, wait_s: float
    ) -> AbstractContextManager[None]:
        """Hold ``name`` for a block, waiting up to ``wait_s`` (``LockTimeoutError``)."""
        ...
