"""The daemon lease: one live daemon per state home, kept alive by heartbeats.

On a database several homes share, each home (host) has its own lease row, keyed by its host
id: a second daemon on one home is refused, a daemon on another home is not. A store that
was never placed (``place_here``) serves the one row without a host id.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator.domain.errors import DaemonRunningError
from orchestrator.domain.hosts import DaemonLease
from orchestrator.store.base import StoreBase
from orchestrator.store.hosts import aware
from orchestrator.store.locks import Serial, serialize
from orchestrator.store.tables import DaemonLeaseRow, utcnow


class _Lease(Protocol):
    """What liveness reads of a lease, as a row or as the domain DaemonLease."""

    @property
    def pid(self) -> int: ...
    @property
    def hostname(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...


def daemon_lease_of(row: DaemonLeaseRow) -> DaemonLease:
    """The one conversion of a daemon lease row (times aware UTC)."""
    return DaemonLease(
        holder=row.holder,
        pid=row.pid,
        hostname=row.hostname,
        acquired_at=aware(row.acquired_at),
        heartbeat_at=aware(row.heartbeat_at),
        expires_at=aware(row.expires_at),
        host_id=row.host_id,
        stop_requested=row.stop_requested,
    )


def holder_alive(lease: _Lease) -> bool:
    """False when the lease's daemon ran on this host and its process is gone (killed).

    Lets a new daemon or `orch recover` start at once after a kill -9 instead of waiting out
    the lease; a daemon on another host is trusted until its lease expires.
    """
    if lease.hostname != socket.gethostname():
        return True
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(lease: _Lease | None) -> bool:
    return lease is not None and aware(lease.expires_at) > utcnow() and holder_alive(lease)


#: The stop reason of a daemon asked to stop by `orch stop`.
STOP_REQUESTED = "stop requested (orch stop)"


class LeaseQueries(StoreBase):
    def _own_lease(self, session: Session, *, lock: bool = False) -> DaemonLeaseRow | None:
        """This host's lease row (FOR UPDATE when ``lock``), None if it never had one.

        A row without a host id was written by an unplaced store (a tool, an older version):
        it is the home's own until a placed daemon takes it and names its host. An unplaced
        store serves a database with one home: its lease is the first row.
        """
        key, host = self.host_key, col(DaemonLeaseRow.host_id)
        statement = select(DaemonLeaseRow)
        if key is not None:
            statement = statement.where((host == key) | host.is_(None)).order_by(host.is_(None))
        statement = statement.order_by(col(DaemonLeaseRow.id))
        return session.exec(statement.with_for_update() if lock else statement).first()

    def acquire_lease(self, holder: str, pid: int, hostname: str, ttl_s: float) -> DaemonLease:
        """Take the lease, or raise DaemonRunningError while another live daemon holds it."""
        with self.writing() as session:
            # The row may not exist yet: a row lock cannot cover its insert (store.locks).
            serialize(session, Serial.LEASE)
            now = utcnow()
            lease = self._own_lease(session, lock=True)
            if lease is not None and lease.holder != holder and lease_is_live(lease):
                raise DaemonRunningError(
                    f"another daemon (pid {lease.pid} on {lease.hostname}) is running on this "
                    f"home; its lease expires at {lease.expires_at:%H:%M:%S} UTC unless renewed"
                )
            previous = lease.holder if lease is not None else None
            if lease is None:
                last = session.exec(select(func.max(DaemonLeaseRow.id))).one()
                lease = DaemonLeaseRow(
                    id=(last or 0) + 1,
                    holder=holder,
                    pid=pid,
                    hostname=hostname,
                    host_id=self.host_key,
                    expires_at=now,
                )
            lease.holder, lease.pid, lease.hostname = holder, pid, hostname
            lease.host_id = lease.host_id or self.host_key
            lease.acquired_at = lease.heartbeat_at = now
            lease.expires_at = now + timedelta(seconds=ttl_s)
            lease.stop_requested = False
            session.add(lease)
            self.journal(session, "lease_acquired", "daemon", holder, pid=pid, previous=previous)
            return daemon_lease_of(lease)

    def heartbeat(self, holder: str, ttl_s: float) -> bool:
        """Extend the lease; False when it is no longer ours or a stop was requested."""
        return self.beat(holder, ttl_s) is None

    def beat(self, holder: str, ttl_s: float) -> str | None:
        """Extend the lease; None while it is ours, else why the daemon must stop (a stop
        request, or the lease lost to another holder), as the run report will say it."""
        with self.writing() as session:
            lease = self._own_lease(session, lock=True)
            if lease is None:
                return "lease lost (its row is gone)"
            if lease.holder != holder:
                return f"lease lost (taken by {lease.holder}, pid {lease.pid} on {lease.hostname})"
            now = utcnow()
            lease.heartbeat_at = now
            lease.expires_at = now + timedelta(seconds=ttl_s)
            session.add(lease)
            return STOP_REQUESTED if lease.stop_requested else None

    def release_lease(self, holder: str) -> None:
        with self.writing() as session:
            lease = self._own_lease(session, lock=True)
            if lease is not None and lease.holder == holder:
                lease.expires_at = utcnow()
                session.add(lease)
                self.journal(session, "lease_released", "daemon", holder)

    def request_stop(self) -> DaemonLease | None:
        """Ask this home's live daemon (if any) to stop gracefully at its next heartbeat."""
        with self.writing() as session:
            lease = self._own_lease(session, lock=True)
            if not lease_is_live(lease) or lease is None:
                return None
            lease.stop_requested = True
            session.add(lease)
            self.journal(session, "stop_requested", "daemon", lease.holder)
            return daemon_lease_of(lease)

    def current_lease(self) -> DaemonLease | None:
        """This home's lease, live or not (None if no daemon of it ever ran)."""
        with self.reading() as session:
            row = self._own_lease(session)
            return daemon_lease_of(row) if row is not None else None

    def lease_is_live(self, lease: DaemonLease | None) -> bool:
        return lease_is_live(lease)

    def live_daemons(self) -> set[str]:
        """The daemon ids of every home whose daemon lease is live: their runs are not
        interrupted, whatever host they run on."""
        with self.reading() as session:
            return {r.holder for r in session.exec(select(DaemonLeaseRow)) if lease_is_live(r)}

    def dead_daemons(self) -> set[str]:
        """The daemon ids still named by a lease that is not live (killed, or stopped)."""
        with self.reading() as session:
            rows = session.exec(select(DaemonLeaseRow))
            return {r.holder for r in rows if not lease_is_live(r)}
