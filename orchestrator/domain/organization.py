"""A project's track organization as plain data: what the organizer sees and proposes against.

The store reads an :class:`OrgState` in one transaction; the context builder, the proposal
validator and the diff are pure functions over it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.lifecycle import TrackStatus, WOStatus

#: The hard limit of top-level tracks per project. Why 8 (seeds/003, WO-2026-108): "FRONTEND
#: CONSTRAINT: 8 track limit is based on tech tree lane display capacity. If tech tree
#: visualization changes to support more lanes or uses filter mode instead of lanes, this
#: limit can be increased. See tech tree viz code when updating." Finer granularity goes into
#: sub-tracks.
MAX_TOP_LEVEL_TRACKS = 8

#: Sub-tracks sit one level below a top-level track; a sub-track of a sub-track is refused
#: (the tech tree draws a lane per top-level track and groups inside it, nothing deeper).
ALLOW_NESTED_SUB_TRACKS = False

#: Tracks in these statuses are history: they take no lane, get no new WOs, and are not shown
#: to the organizer.
RETIRED_TRACK_STATUSES = frozenset({TrackStatus.CANCELLED.value, TrackStatus.ARCHIVED.value})

#: WO statuses that need no more work: counted, not listed, when the context is compressed.
CLOSED_WO_STATUSES = frozenset({WOStatus.DONE.value, WOStatus.CANCELLED.value})


class OrganizeMode(StrEnum):
    INITIAL = "initial"
    INCREMENTAL = "incremental"
    REORG = "reorg"

    @classmethod
    def parse(cls, value: str) -> OrganizeMode:
        try:
            return cls(value.lower())
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValidationError(f"unknown organize mode {value!r}: one of {names}") from None


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    STALE = "stale"


@dataclass(frozen=True)
class TrackInfo:
    id: str
    name: str
    goal: str = ""
    type: str = "feature"
    status: str = TrackStatus.DRAFT.value
    parent: str | None = None

    @property
    def retired(self) -> bool:
        return self.status in RETIRED_TRACK_STATUSES


@dataclass(frozen=True)
class WOInfo:
    id: str
    title: str
    tags: tuple[str, ...] = ()
    status: str = WOStatus.BACKLOG.value
    depends_on: tuple[str, ...] = ()
    #: Ids of the live (not retired) tracks the WO belongs to.
    tracks: tuple[str, ...] = ()
    priority: int = 3

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_WO_STATUSES


@dataclass(frozen=True)
class OrgState:
    """One project's tracks (retired ones too) and work orders, as read at one moment."""

    project: str
    tracks: tuple[TrackInfo, ...] = ()
    work_orders: tuple[WOInfo, ...] = ()
    _by_id: dict[str, TrackInfo] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({t.id: t for t in self.tracks})

    def track(self, track_id: str) -> TrackInfo | None:
        return self._by_id.get(track_id)

    @property
    def live_tracks(self) -> list[TrackInfo]:
        return [t for t in self.tracks if not t.retired]

    def wo_counts(self) -> dict[str, tuple[int, int]]:
        """(WOs, done WOs) per live track id."""
        counts = {t.id: [0, 0] for t in self.live_tracks}
        for wo in self.work_orders:
            for track_id in wo.tracks:
                if track_id in counts:
                    counts[track_id][0] += 1
                    counts[track_id][1] += wo.status == WOStatus.DONE.value
        return {k: (v[0], v[1]) for k, v in counts.items()}

    def default_mode(self) -> OrganizeMode:
        """Initial while the project has no live track, else incremental."""
        return OrganizeMode.INCREMENTAL if self.live_tracks else OrganizeMode.INITIAL

    def to_place(self, mode: OrganizeMode) -> list[WOInfo]:
        """The WOs a proposal in ``mode`` places: all, or (incremental) those without a track."""
        if mode is OrganizeMode.INCREMENTAL:
            return [w for w in self.work_orders if not w.tracks]
        return list(self.work_orders)

    def fingerprint(self) -> str:
        """What a proposal was made against: WOs (id, title, priority, tags), the live
        structure, and assignments.

        Status changes are left out on purpose (the daemon moves WOs and tracks all night;
        that does not make a proposal wrong), as are retired tracks' details. A WO's title,
        priority and tags are what the organizer grouped it by: a re-import that changes
        them makes the proposal stale.
        """
        digest = hashlib.sha256()
        for track in sorted(self.tracks, key=lambda t: t.id):
            state = "retired" if track.retired else "live"
            digest.update(f"T\0{track.id}\0{track.name}\0{track.parent}\0{state}\n".encode())
            if not track.retired:
                digest.update(f"G\0{track.goal}\n".encode())
        for wo in sorted(self.work_orders, key=lambda w: w.id):
            digest.update(f"W\0{wo.id}\0{','.join(sorted(wo.tracks))}\n".encode())
            digest.update(f"w\0{wo.title}\0{wo.priority}\0{','.join(sorted(wo.tags))}\n".encode())
        return digest.hexdigest()[:32]


class ProposalRejectedError(ValidationError):
    """A proposal broke the rules; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(
            f"propose_tracks rejected ({len(problems)} problems); fix them all and call "
            f"propose_tracks again with the whole proposal:\n{lines}"
        )


@dataclass(frozen=True)
class ProposedTrack:
    key: str
    name: str
    goal: str
    type: str
    #: A proposal key or an existing track id; None for top level.
    parent: str | None
    status: str
    existing: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "goal": self.goal,
            "type": self.type,
            "parent": self.parent,
            "status": self.status,
            "existing": self.existing,
        }


@dataclass(frozen=True)
class Proposal:
    mode: OrganizeMode
    tracks: tuple[ProposedTrack, ...]
    #: WO id -> the proposal keys / existing track ids it belongs to afterwards.
    assignments: dict[str, tuple[str, ...]]
    recommendations: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "tracks": [t.to_json() for t in self.tracks],
            "assignments": [
                {"wo_id": wo, "tracks": list(targets)}
                for wo, targets in sorted(self.assignments.items())
            ],
            "recommendations": list(self.recommendations),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proposal:
        return cls(
            mode=OrganizeMode(data["mode"]),
            tracks=tuple(ProposedTrack(**t) for t in data.get("tracks", [])),
            assignments={a["wo_id"]: tuple(a["tracks"]) for a in data.get("assignments", [])},
            recommendations=tuple(data.get("recommendations", [])),
        )


@dataclass(frozen=True)
class ProposalRecord:
    """A stored organization proposal: what was proposed, against which state, its fate."""

    id: int
    project_id: str
    mode: OrganizeMode
    status: ProposalStatus
    #: The project's organization fingerprint when it was made (stale detection).
    based_on: str
    #: The proposal as JSON (``Proposal.to_json`` plus the trigger that asked for it).
    proposal: dict[str, Any]
    created_at: datetime
    run_id: str | None = None
    decided_at: datetime | None = None
