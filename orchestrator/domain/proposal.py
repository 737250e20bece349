"""Validating an organizer's ``propose_tracks`` call against a project's current structure.

A proposal lists tracks and assignments. A track whose ``key`` is the id of a live track of
the project means that track (its name, goal, parent may change; ``status: cancelled``
retires it after a merge); any other key is a new track, local to the proposal until it is
approved. Parents and assignment targets name proposal keys or existing track ids.
Assignments replace a WO's tracks (initial, reorg) or place a WO without one (incremental).

Every problem is collected, so the agent can fix them all in one more attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.domain.errors import IllegalTransitionError, ValidationError
from orchestrator.domain.ids import slugify
from orchestrator.domain.lifecycle import TrackStatus, WOStatus, check_transition
from orchestrator.domain.models import TrackType
from orchestrator.domain.organization import (
    ALLOW_NESTED_SUB_TRACKS,
    MAX_TOP_LEVEL_TRACKS,
    OrganizeMode,
    OrgState,
)

#: Statuses a new track may start in: a human (or the daemon, for ready) takes it from there.
NEW_TRACK_STATUSES = (TrackStatus.DRAFT.value, TrackStatus.READY.value)
#: Problems of one kind listed by name in an error; the rest are counted.
_LISTED = 20


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


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def validate_proposal(
    state: OrgState,
    mode: OrganizeMode,
    args: dict[str, Any],
    *,
    refs: dict[str, tuple[str, ...]] | None = None,
    max_top_level: int = MAX_TOP_LEVEL_TRACKS,
    allow_nested: bool = ALLOW_NESTED_SUB_TRACKS,
) -> Proposal:
    """The normalized proposal, or ``ProposalRejectedError`` listing every problem.

    ``refs`` are the group refs of the context the agent was given (``group:TAG:STATUS``
    standing for the ids of a group).
    """
    problems: list[str] = []
    tracks, parent_given = _tracks(state, args.get("tracks") or [], problems)
    by_key = {t.key: t for t in tracks}
    _structure(state, mode, tracks, parent_given, max_top_level, allow_nested, problems)
    assignments = _assignments(state, mode, by_key, args.get("assignments") or [], refs, problems)
    recommendations = tuple(str(r) for r in args.get("recommendations") or [] if str(r).strip())
    if not tracks and not assignments and not recommendations:
        problems.append("the proposal is empty: propose tracks and assignments")
    if problems:
        raise ProposalRejectedError(problems)
    return Proposal(mode, tuple(tracks), assignments, recommendations)


def _tracks(
    state: OrgState, raw_tracks: list[Any], problems: list[str]
) -> tuple[list[ProposedTrack], set[str]]:
    """Normalized track entries, and the keys whose entry set ``parent`` explicitly."""
    tracks: list[ProposedTrack] = []
    parent_given: set[str] = set()
    seen: set[str] = set()
    for raw in raw_tracks:
        if not isinstance(raw, dict):
            problems.append("every track entry must be an object")
            continue
        key = str(raw.get("key") or "").strip()
        if not key:
            problems.append("a track entry has no key")
            continue
        if key in seen:
            problems.append(f"track key {key!r} is used twice")
            continue
        seen.add(key)
        current = state.track(key)
        if current is not None and current.retired:
            problems.append(f"track {key} is {current.status}: give a new track a new key")
            continue
        if "parent" in raw:
            parent_given.add(key)
        parent = str(raw.get("parent") or "").strip() or None
        name = slugify(str(raw.get("name") or key), max_len=64)
        goal = " ".join(str(raw.get("goal") or "").split())
        if current is not None:
            tracks.append(
                ProposedTrack(
                    key=key,
                    name=current.name if name == slugify(current.name, 64) else name,
                    goal=goal or current.goal,
                    type=current.type,
                    parent=parent if key in parent_given else current.parent,
                    status=_existing_status(key, current.status, raw.get("status"), problems),
                    existing=True,
                )
            )
            continue
        try:
            track_type = TrackType.parse(str(raw.get("type") or "feature")).value
        except ValidationError as exc:
            problems.append(f"track {key}: {exc}")
            track_type = TrackType.FEATURE.value
        status = str(raw.get("status") or TrackStatus.DRAFT.value).lower()
        if status not in NEW_TRACK_STATUSES:
            problems.append(
                f"track {key}: a new track starts as {' or '.join(NEW_TRACK_STATUSES)}, "
                f"not {status!r}"
            )
        tracks.append(ProposedTrack(key, name, goal, track_type, parent, status, existing=False))
    _names(state, tracks, problems)
    return tracks, parent_given


def _existing_status(key: str, current: str, wanted: Any, problems: list[str]) -> str:
    if wanted in (None, "", current):
        return current
    target = str(wanted).lower()
    if target != TrackStatus.CANCELLED.value:
        problems.append(
            f"track {key}: the organizer may only cancel an existing track (after merging it "
            f"away), not move it to {target!r}; lifecycle moves are the daemon's and the user's"
        )
        return current
    try:
        check_transition("track", key, TrackStatus(current), TrackStatus.CANCELLED)
    except IllegalTransitionError as exc:
        problems.append(f"{exc}; keep it and move its work orders instead")
        return current
    return target


def _names(state: OrgState, tracks: list[ProposedTrack], problems: list[str]) -> None:
    """Track names are unique per project (retired tracks keep theirs)."""
    owner = {t.name: t.id for t in state.tracks}
    claimed: dict[str, str] = {}
    for track in tracks:
        unchanged = track.existing and owner.get(track.name) == track.key
        if unchanged:
            continue
        holder = owner.get(track.name)
        if holder is not None and holder != track.key:
            hint = "" if track.existing else f" (to reuse it, use key {holder!r})"
            problems.append(f"track {track.key}: name {track.name!r} is taken by {holder}{hint}")
        elif track.name in claimed:
            problems.append(
                f"tracks {claimed[track.name]} and {track.key} would both be named {track.name!r}"
            )
        claimed[track.name] = track.key


def _structure(
    state: OrgState,
    mode: OrganizeMode,
    tracks: list[ProposedTrack],
    parent_given: set[str],
    max_top_level: int,
    allow_nested: bool,
    problems: list[str],
) -> None:
    """Parents exist, form no cycle, nest one level, and leave at most ``max_top_level``."""
    parents: dict[str, str | None] = {t.id: t.parent for t in state.live_tracks}
    cancelled = set()
    for track in tracks:
        parents[track.key] = track.parent
        if track.status == TrackStatus.CANCELLED.value:
            cancelled.add(track.key)
    for track in tracks:
        if track.parent is None or (track.existing and track.key not in parent_given):
            continue
        if track.parent == track.key:
            problems.append(f"track {track.key} cannot be its own parent (parent cycle)")
        elif track.parent not in parents:
            problems.append(f"track {track.key}: unknown parent {track.parent!r}")
        elif track.parent in cancelled:
            problems.append(f"track {track.key}: parent {track.parent} is being cancelled")
    for key, parent in parents.items():
        if key in cancelled:
            continue
        if parent in cancelled:
            problems.append(f"track {key} would be a sub-track of cancelled track {parent}")
    cycles = _cycles(parents)
    for cycle in cycles:
        problems.append("parent cycle: " + " -> ".join([*cycle, cycle[0]]))
    in_cycle = {k for c in cycles for k in c}
    # Only what the proposal places is judged: a user may have nested deeper by hand.
    touched = {t.key for t in tracks if not t.existing or t.key in parent_given}
    if not allow_nested:
        for key, parent in sorted(parents.items()):
            if parent is None or key in in_cycle or key in cancelled:
                continue
            if parents.get(parent) is None or not {key, parent} & touched:
                continue
            problems.append(
                f"track {key} would be a sub-track of sub-track {parent}: sub-tracks sit "
                f"directly below a top-level track (attach it to {_root(parents, parent)})"
            )
    top = sorted(k for k, p in parents.items() if p is None and k not in cancelled)
    before = sum(1 for t in state.live_tracks if t.parent is None)
    # An incremental run may not restructure, so it is only held to not adding lanes.
    grows = len(top) > before or mode is not OrganizeMode.INCREMENTAL
    if len(top) > max_top_level and grows:
        problems.append(
            f"the structure would have {len(top)} top-level tracks ({', '.join(top)}): at most "
            f"{max_top_level} top-level tracks are allowed; merge tracks or make some of them "
            "sub-tracks (set parent)"
        )


def _root(parents: dict[str, str | None], key: str) -> str:
    seen = {key}
    while (parent := parents.get(key)) is not None and parent not in seen:
        seen.add(parent)
        key = parent
    return key


def _cycles(parents: dict[str, str | None]) -> list[list[str]]:
    """Each parent cycle once, starting at its smallest key."""
    found: dict[tuple[str, ...], list[str]] = {}
    for start in sorted(parents):
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parents and node not in path:
            path.append(node)
            node = parents[node]
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            pivot = cycle.index(min(cycle))
            cycle = cycle[pivot:] + cycle[:pivot]
            found.setdefault(tuple(cycle), cycle)
    return list(found.values())


def _assignments(
    state: OrgState,
    mode: OrganizeMode,
    by_key: dict[str, ProposedTrack],
    raw_assignments: list[Any],
    refs: dict[str, tuple[str, ...]] | None,
    problems: list[str],
) -> dict[str, tuple[str, ...]]:
    refs = refs or {}
    wos = {w.id: w for w in state.work_orders}
    live = {t.id for t in state.live_tracks}
    cancelled = {k for k, t in by_key.items() if t.status == TrackStatus.CANCELLED.value}
    targets_of: dict[str, set[str]] = {}
    unknown_wos: list[str] = []
    unknown_tracks: set[str] = set()
    for raw in raw_assignments:
        if not isinstance(raw, dict):
            problems.append("every assignment must be an object")
            continue
        ref = str(raw.get("wo_id") or "").strip()
        ids = refs.get(ref) or ((ref,) if ref in wos else None)
        if ids is None:
            unknown_wos.append(ref or "(empty)")
            continue
        targets = {str(t).strip() for t in raw.get("tracks") or [] if str(t).strip()}
        if not targets:
            problems.append(f"{ref}: assign it to at least one track")
        for target in sorted(targets):
            if target not in by_key and target not in live:
                unknown_tracks.add(target)
            elif target in cancelled:
                problems.append(f"{ref}: track {target} is being cancelled; assign elsewhere")
        for wo_id in ids:
            targets_of.setdefault(wo_id, set()).update(targets)
    if unknown_wos:
        problems.append(
            f"unknown work order ids (not in project {state.project}): {_listed(unknown_wos)}"
        )
    if unknown_tracks:
        problems.append(
            f"unknown tracks in assignments: {_listed(sorted(unknown_tracks))}; use a key "
            "from your tracks list or the id of an existing track"
        )
    placed = sorted(w for w in targets_of if wos[w].tracks)
    if mode is OrganizeMode.INCREMENTAL and placed:
        problems.append(
            "incremental mode places only work orders without a track; these already have "
            f"one: {_listed(placed)} (a reorg moves them)"
        )
    for wo_id in sorted(targets_of):
        wo = wos[wo_id]
        kept = set(wo.tracks) - targets_of[wo_id]
        if wo.status == WOStatus.RUNNING.value and kept:
            problems.append(
                f"{wo_id} is running in {', '.join(sorted(kept))}: keep it there while it runs"
            )
    if mode is OrganizeMode.INITIAL:
        left = [
            w.id
            for w in state.work_orders
            if w.id not in targets_of and w.status != WOStatus.CANCELLED.value
        ]
        if left:
            problems.append(
                f"{len(left)} work orders left unassigned: {_listed(left)}; initial mode "
                "assigns every work order (a group's ref assigns the whole group)"
            )
    _orphans(state, cancelled, targets_of, problems)
    return {wo: tuple(sorted(t)) for wo, t in sorted(targets_of.items()) if t}


def _orphans(
    state: OrgState, cancelled: set[str], targets_of: dict[str, set[str]], problems: list[str]
) -> None:
    """An open WO may not be left with only a cancelled track."""
    if not cancelled:
        return
    stranded = []
    for wo in state.work_orders:
        if wo.closed or not set(wo.tracks) & cancelled:
            continue
        final = targets_of.get(wo.id, set(wo.tracks))
        if not final - cancelled:
            stranded.append(wo.id)
    if stranded:
        problems.append(
            f"cancelled tracks ({', '.join(sorted(cancelled))}) would leave open work orders "
            f"without a track: {_listed(stranded)}; assign them to the tracks they merge into"
        )
