"""Queries on hosts and track leases: which home's daemon works which active track.

Every change is one conditional statement or one transaction on the lease's row, so two
hosts racing for a track cannot both win on SQLite (``BEGIN IMMEDIATE`` serializes the
writers) nor on PostgreSQL (the row lock of the ``UPDATE``, the primary key of the
``INSERT``). Times are the caller's clock: hosts must keep their clocks in step (NTP) to well
within a lease's time to live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from orchestrator.domain.errors import StoreConflict
from orchestrator.domain.hosts import Host, Takeover, TrackLease
from orchestrator.store.base import StoreBase
from orchestrator.store.tables import HostRow, TrackLeaseRow, utcnow


def aware(value: datetime) -> datetime:
    """A stored UTC time as an aware datetime (SQLite hands some back naive)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_LEASE_COLUMNS = tuple(
    col(c)
    for c in (
        TrackLeaseRow.track_id,
        TrackLeaseRow.host_id,
        TrackLeaseRow.acquired_at,
        TrackLeaseRow.heartbeat_at,
        TrackLeaseRow.ttl_s,
        TrackLeaseRow.expires_at,
    )
)


def _lease(row: TrackLeaseRow | Row[Any]) -> TrackLease:
    return TrackLease(
        track_id=row.track_id,
        host_id=row.host_id,
        acquired_at=aware(row.acquired_at),
        heartbeat_at=aware(row.heartbeat_at),
        ttl_s=row.ttl_s,
        expires_at=aware(row.expires_at),
    )


class HostQueries(StoreBase):
    # -- hosts ---------------------------------------------------------------------------

    def register_host(self, host_id: str, hostname: str, home: str, pid: int | None) -> Host:
        """Record (or refresh) this home as a host; ``pid`` is its daemon's, None if none."""
        with self.writing() as session:
            now = utcnow()
            row = session.get(HostRow, host_id)
            if row is None:
                row = HostRow(id=host_id, hostname=hostname, home=home)
                self.journal(session, "host_registered", "host", host_id, hostname=hostname)
            row.hostname, row.home, row.pid = hostname, home, pid
            if pid is not None:
                row.started_at = now
            row.last_seen_at = now
            session.add(row)
            return self._host(session, row, ())

    def list_hosts(self) -> list[Host]:
        """Every registered host with the track leases it holds (expired ones included)."""
        with self.reading() as session:
            leases: dict[str, list[TrackLease]] = {}
            for row in session.exec(select(TrackLeaseRow).order_by(TrackLeaseRow.track_id)):
                leases.setdefault(row.host_id, []).append(_lease(row))
            hosts = session.exec(select(HostRow).order_by(HostRow.id)).all()
            return [self._host(session, h, tuple(leases.get(h.id, ()))) for h in hosts]

    @staticmethod
    def _host(_session: Session, row: HostRow, leases: tuple[TrackLease, ...]) -> Host:
        return Host(
            id=row.id,
            hostname=row.hostname,
            home=row.home,
            pid=row.pid,
            started_at=None if row.started_at is None else aware(row.started_at),
            last_seen_at=aware(row.last_seen_at),
            leases=leases,
        )

    # -- track leases --------------------------------------------------------------------

    def track_leases(self) -> list[TrackLease]:
        """Every track lease, live or expired, by track."""
        # Columns, not ORM instances: the dispatch loop asks on every round.
        with self.reading() as session:
            statement = sa_select(*_LEASE_COLUMNS).order_by(col(TrackLeaseRow.track_id))
            return [_lease(r) for r in session.execute(statement)]

    def track_lease(self, track_id: str) -> TrackLease | None:
        with self.reading() as session:
            row = session.get(TrackLeaseRow, track_id)
            return None if row is None else _lease(row)

    def acquire_track_lease(self, track_id: str, host_id: str, ttl_s: float) -> TrackLease | None:
        """Take a free track (or renew our own lease on it); None while another host holds
        it, even past its expiry: taking that is a takeover (:meth:`steal_track_lease`)."""
        now = utcnow()
        try:
            with self.writing() as session:
                # FOR UPDATE: on PostgreSQL a concurrent steal waits for us (renders
                # nothing on SQLite, whose write lock is held already).
                row = session.get(TrackLeaseRow, track_id, with_for_update=True)
                if row is not None and row.host_id != host_id:
                    return None
                if row is None:
                    row = TrackLeaseRow(
                        track_id=track_id,
                        host_id=host_id,
                        acquired_at=now,
                        heartbeat_at=now,
                        ttl_s=ttl_s,
                        expires_at=now + timedelta(seconds=ttl_s),
                    )
                    self.journal(session, "track_lease_acquired", "track", track_id, host=host_id)
                row.heartbeat_at, row.ttl_s = now, ttl_s
                row.expires_at = now + timedelta(seconds=ttl_s)
                session.add(row)
                session.flush()
                return _lease(row)
        except StoreConflict:
            # Another host inserted the row first (PostgreSQL; SQLite serializes before).
            return None

    def renew_track_leases(self, host_id: str, ttl_s: float) -> list[TrackLease]:
        """The heartbeat: extend every lease ``host_id`` holds, also one past its expiry
        that nobody stole yet; returns the leases it still holds (a missing track was lost)."""
        with self.writing() as session:
            now = utcnow()
            session.exec(
                update(TrackLeaseRow)
                .where(TrackLeaseRow.host_id == host_id)  # type: ignore[arg-type]
                .values(heartbeat_at=now, ttl_s=ttl_s, expires_at=now + timedelta(seconds=ttl_s))
            )
            host = session.get(HostRow, host_id)
            if host is not None:
                host.last_seen_at = now
                session.add(host)
            rows = session.exec(
                select(TrackLeaseRow)
                .where(TrackLeaseRow.host_id == host_id)
                .order_by(TrackLeaseRow.track_id)
            )
            return [_lease(r) for r in rows]

    def release_track_lease(self, track_id: str, host_id: str) -> bool:
        """Give the track up (its work is parked or finished); False if it was not ours."""
        with self.writing() as session:
            row = session.get(TrackLeaseRow, track_id, with_for_update=True)
            if row is None or row.host_id != host_id:
                return False
            session.delete(row)
            self.journal(session, "track_lease_released", "track", track_id, host=host_id)
            return True

    def expire_host_leases(self, host_id: str) -> list[str]:
        """End every lease of ``host_id`` now (a host known to be gone), so the others can
        take its tracks without waiting out the time to live; returns the tracks."""
        with self.writing() as session:
            now = utcnow()
            rows = list(session.exec(select(TrackLeaseRow).where(TrackLeaseRow.host_id == host_id)))
            for row in rows:
                row.expires_at = now
                session.add(row)
                self.journal(session, "track_lease_expired", "track", row.track_id, host=host_id)
            return [r.track_id for r in rows]

    def expired_track_leases(self, host_id: str) -> list[TrackLease]:
        """Other hosts' leases past their expiry: the tracks ``host_id`` could take over."""
        now = utcnow()
        with self.reading() as session:
            rows = session.exec(
                select(TrackLeaseRow)
                .where(TrackLeaseRow.host_id != host_id, TrackLeaseRow.expires_at <= now)
                .order_by(col(TrackLeaseRow.expires_at))
            )
            return [_lease(r) for r in rows]

    def steal_track_lease(self, track_id: str, host_id: str, ttl_s: float) -> Takeover | None:
        """Take the track from a host whose lease has expired; None if the lease is live,
        free, ours already, or another host stole it first (one conditional update)."""
        with self.writing() as session:
            now = utcnow()
            row = session.get(TrackLeaseRow, track_id)
            if row is None or row.host_id == host_id or aware(row.expires_at) > now:
                return None
            previous = row.host_id
            result = session.exec(
                update(TrackLeaseRow)
                .where(
                    TrackLeaseRow.track_id == track_id,  # type: ignore[arg-type]
                    TrackLeaseRow.host_id == previous,  # type: ignore[arg-type]
                    TrackLeaseRow.expires_at <= now,  # type: ignore[arg-type]
                )
                .values(
                    host_id=host_id,
                    acquired_at=now,
                    heartbeat_at=now,
                    ttl_s=ttl_s,
                    expires_at=now + timedelta(seconds=ttl_s),
                )
            )
            if result.rowcount != 1:
                return None
            self.journal(
                session, "track_lease_stolen", "track", track_id, host=host_id, previous=previous
            )
            session.expire_all()
            stolen = session.get(TrackLeaseRow, track_id)
            assert stolen is not None
            return Takeover(_lease(stolen), previous)
