"""The ``--json`` shape of hosts and their track leases (``orch hosts``, ``orch status``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.domain.hosts import Host, TrackLease


def lease_json(lease: TrackLease, now: datetime) -> dict[str, Any]:
    return {
        "track": lease.track_id,
        "acquired_at": lease.acquired_at.isoformat(),
        "heartbeat_at": lease.heartbeat_at.isoformat(),
        "ttl_s": lease.ttl_s,
        "age_s": round(lease.age_s(now), 1),
        "held_s": round(lease.held_s(now), 1),
        "expired": lease.expired(now),
    }


def host_json(host: Host, now: datetime, this_host: str | None) -> dict[str, Any]:
    return {
        "id": host.id,
        "hostname": host.hostname,
        "home": host.home,
        "pid": host.pid,
        "this_home": host.id == this_host,
        "started_at": None if host.started_at is None else host.started_at.isoformat(),
        "last_seen_at": host.last_seen_at.isoformat(),
        "seen_s": round(host.seen_s(now), 1),
        "tracks": [lease_json(x, now) for x in host.leases],
    }
