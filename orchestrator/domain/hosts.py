"""Several hosts on one run: who a host is, and the leases by which it owns tracks.

A host is one daemon's state home (its own workspaces and clones) on a shared database. An
active track is worked by one host at a time: the holder of its track lease, which it renews
with every heartbeat. A lease past its expiry may be stolen by another host, which then
rebuilds the track's worktree from the shared remote and resumes its session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from orchestrator.domain.errors import ValidationError

#: A host id names a directory and appears in refs and logs: a slug of at most 64 characters.
HOST_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def validate_host_id(value: object) -> str:
    """A host id (a slug: a-z, 0-9, '-', 1-64 characters), or ValidationError."""
    if not isinstance(value, str) or not HOST_ID_RE.fullmatch(value):
        raise ValidationError(
            f"invalid host id {value!r}: use 1-64 characters a-z, 0-9, '-', not starting with '-'"
        )
    return value


def host_id_from(hostname: str, home_digest: str) -> str:
    """The default id of a home: its machine's name (as a slug) and a digest of its path,
    so that two homes on one machine differ and one home keeps its id across restarts."""
    stem = re.sub(r"[^a-z0-9]+", "-", hostname.lower()).strip("-")[:48].strip("-") or "host"
    return validate_host_id(f"{stem}-{home_digest[:8]}")


@dataclass(frozen=True)
class TrackLease:
    """One track's owner: the host that may work it until ``expires_at`` unless renewed."""

    track_id: str
    host_id: str
    acquired_at: datetime
    heartbeat_at: datetime
    ttl_s: float
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def age_s(self, now: datetime) -> float:
        """Seconds since the holder last renewed it (what `orch hosts` shows)."""
        return max(0.0, (now - self.heartbeat_at).total_seconds())

    def held_s(self, now: datetime) -> float:
        return max(0.0, (now - self.acquired_at).total_seconds())


@dataclass(frozen=True)
class Host:
    """A registered host: its id, machine, home and when its daemon was last heard from."""

    id: str
    hostname: str
    home: str
    pid: int | None
    started_at: datetime | None
    last_seen_at: datetime
    leases: tuple[TrackLease, ...] = ()

    def seen_s(self, now: datetime) -> float:
        return max(0.0, (now - self.last_seen_at).total_seconds())


@dataclass(frozen=True)
class Takeover:
    """A lease taken from a host whose lease had expired: the new holder rebuilds the track."""

    lease: TrackLease
    previous_host: str


@dataclass(frozen=True)
class DaemonLease:
    """A home's daemon lease: who holds it (the daemon id), on which process and machine,
    until when unless renewed, and whether `orch stop` asked it to stop."""

    holder: str
    pid: int
    hostname: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    host_id: str | None = None
    stop_requested: bool = False
