"""The daemon lease: one live daemon per state home, kept alive by heartbeats."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.domain.errors import DaemonRunningError
from orchestrator.store.base import StoreBase
from orchestrator.store.tables import DaemonLeaseRow, utcnow


class LeaseQueries(StoreBase):
    def acquire_lease(self, holder: str, pid: int, hostname: str, ttl_s: float) -> DaemonLeaseRow:
        """Take the lease, or raise DaemonRunningError while another live daemon holds it."""
        with self.writing() as session:
            now = utcnow()
            lease = session.get(DaemonLeaseRow, 1)
            if lease is not None and lease.holder != holder and lease.expires_at > now:
                raise DaemonRunningError(
                    f"another daemon (pid {lease.pid} on {lease.hostname}) is running on this "
                    f"home; its lease expires at {lease.expires_at:%H:%M:%S} UTC unless renewed"
                )
            previous = lease.holder if lease is not None else None
            if lease is None:
                lease = DaemonLeaseRow(holder=holder, pid=pid, hostname=hostname, expires_at=now)
            lease.holder, lease.pid, lease.hostname = holder, pid, hostname
            lease.acquired_at = lease.heartbeat_at = now
            lease.expires_at = now + timedelta(seconds=ttl_s)
            lease.stop_requested = False
            session.add(lease)
            self.journal(session, "lease_acquired", "daemon", holder, pid=pid, previous=previous)
            return lease

    def heartbeat(self, holder: str, ttl_s: float) -> bool:
        """Extend the lease; False when it is no longer ours or a stop was requested."""
        with self.writing() as session:
            lease = session.get(DaemonLeaseRow, 1)
            if lease is None or lease.holder != holder:
                return False
            now = utcnow()
            lease.heartbeat_at = now
            lease.expires_at = now + timedelta(seconds=ttl_s)
            session.add(lease)
            return not lease.stop_requested

    def release_lease(self, holder: str) -> None:
        with self.writing() as session:
            lease = session.get(DaemonLeaseRow, 1)
            if lease is not None and lease.holder == holder:
                lease.expires_at = utcnow()
                session.add(lease)
                self.journal(session, "lease_released", "daemon", holder)

    def request_stop(self) -> DaemonLeaseRow | None:
        """Ask the live daemon (if any) to stop gracefully at its next heartbeat."""
        with self.writing() as session:
            lease = session.get(DaemonLeaseRow, 1)
            if lease is None or lease.expires_at <= utcnow():
                return None
            lease.stop_requested = True
            session.add(lease)
            self.journal(session, "stop_requested", "daemon", lease.holder)
            return lease
