"""Validating an organizer's ``propose_tracks`` call against a project's current structure.

A proposal lists tracks and assignments. A track whose ``key`` is the id of a live track of
the project means that track (its name, goal, parent may change; ``status: cancelled``
retires it after a merge); any other key is a new track, local to the proposal until it is
approved. Parents and assignment targets name proposal keys or existing track ids.
Assignments replace a WO's tracks (initial, reorg) or place a WO without one (incremental).

Every problem is collected, so the agent can fix them all in one more attempt.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.domain.errors import IllegalTransitionError, ValidationError
from orchestrator.domain.ids import slugify
from orchestrator.domain.lifecycle import (
    TRACK_TRANSITIONS,
    TrackStatus,
    WOStatus,
    check_transition,
)
from orchestrator.domain.models import TrackType
from orchestrator.domain.organization import (
    ALLOW_NESTED_SUB_TRACKS,
    MAX_TOP_LEVEL_TRACKS,
    OrganizeMode,
    OrgState,
    Proposal,
    ProposalRejectedError,
    ProposedTrack,
)
from orchestrator.domain.proposal_structure import check_structure

#: Statuses a new track may start in: a human (or the daemon, for ready) takes it from there.
NEW_TRACK_STATUSES = (TrackStatus.DRAFT.value, TrackStatus.READY.value)
#: Problems of one kind listed by name in an error; the rest are counted.
_LISTED = 20


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
    standing for the ids of a group). A new track named like a live track of the project
    means that track (names are unique per project). In initial and reorg mode, a live track
    the proposal does not list and leaves without WOs or sub-tracks was merged away: it is
    cancelled when its lifecycle allows (draft, failed), else kept.
    """
    problems: list[str] = []
    tracks, parent_given, aliases = _tracks(state, args.get("tracks") or [], problems)
    by_key = {t.key: t for t in tracks}
    raw_assignments = args.get("assignments") or []
    assignments = _assignments(state, mode, by_key, raw_assignments, refs, aliases, problems)
    if mode is not OrganizeMode.INCREMENTAL:
        tracks.extend(_merged_away(state, tracks, assignments))
    check_structure(state, mode, tracks, parent_given, max_top_level, allow_nested, problems)
    recommendations = tuple(str(r) for r in args.get("recommendations") or [] if str(r).strip())
    if not tracks and not assignments and not recommendations:
        problems.append("the proposal is empty: propose tracks and assignments")
    if problems:
        raise ProposalRejectedError(problems)
    return Proposal(mode, tuple(tracks), assignments, recommendations)


def _tracks(
    state: OrgState, raw_tracks: list[Any], problems: list[str]
) -> tuple[list[ProposedTrack], set[str], dict[str, str]]:
    """Normalized track entries, the keys whose entry set ``parent`` explicitly, and the
    aliases (a new key named like a live track -> that track's id)."""
    tracks: list[ProposedTrack] = []
    parent_given: set[str] = set()
    aliases: dict[str, str] = {}
    seen: set[str] = set()
    live_names = {t.name: t for t in state.live_tracks}
    for raw in raw_tracks:
        if not isinstance(raw, dict):
            problems.append("every track entry must be an object")
            continue
        key = str(raw.get("key") or "").strip()
        if not key:
            problems.append("a track entry has no key")
            continue
        if key in seen or key in aliases:
            problems.append(f"track key {key!r} is used twice")
            continue
        name = slugify(str(raw.get("name") or key), max_len=64)
        current = state.track(key)
        wanted_status = raw.get("status")
        if current is None and name in live_names and live_names[name].id not in seen:
            current = live_names[name]
            aliases[key] = current.id
            key = current.id
            # The agent took it for a new track: a new track's status means nothing here.
            if str(wanted_status).lower() != TrackStatus.CANCELLED.value:
                wanted_status = None
        seen.add(key)
        if current is not None and current.retired:
            problems.append(f"track {key} is {current.status}: give a new track a new key")
            continue
        if "parent" in raw:
            parent_given.add(key)
        parent = str(raw.get("parent") or "").strip() or None
        goal = " ".join(str(raw.get("goal") or "").split())
        if current is not None:
            tracks.append(
                ProposedTrack(
                    key=key,
                    name=current.name if name == slugify(current.name, 64) else name,
                    goal=goal or current.goal,
                    type=current.type,
                    parent=parent if key in parent_given else current.parent,
                    status=_existing_status(key, current.status, wanted_status, problems),
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
    if aliases:
        tracks = [replace(t, parent=aliases.get(t.parent or "", t.parent)) for t in tracks]
    _names(state, tracks, problems)
    return tracks, parent_given, aliases


def _merged_away(
    state: OrgState, tracks: list[ProposedTrack], assignments: dict[str, tuple[str, ...]]
) -> list[ProposedTrack]:
    """Cancel entries for unlisted live tracks left without WOs and sub-tracks."""
    listed = {t.key for t in tracks}
    holding = {t for w in state.work_orders for t in assignments.get(w.id, w.tracks)}
    parents = {t.id: t.parent for t in state.live_tracks} | {t.key: t.parent for t in tracks}
    emptied = {t.id for t in state.live_tracks if t.id not in listed and t.id not in holding}
    # A parent counts as emptied only once all of its sub-tracks are (two levels at most,
    # but a hand-made deeper tree settles too).
    changed = True
    while changed:
        changed = False
        for track_id in sorted(emptied):
            if any(p == track_id and c not in emptied for c, p in parents.items()):
                emptied.discard(track_id)
                changed = True
    merged = []
    for track_id in sorted(emptied):
        track = state.track(track_id)
        assert track is not None
        allowed = TRACK_TRANSITIONS[TrackStatus(track.status)]
        if TrackStatus.CANCELLED in allowed:
            merged.append(
                ProposedTrack(
                    track.id,
                    track.name,
                    track.goal,
                    track.type,
                    track.parent,
                    TrackStatus.CANCELLED.value,
                    existing=True,
                )
            )
    return merged


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
    owner = {t.name: t for t in state.tracks}
    claimed: dict[str, str] = {}
    for track in tracks:
        holder = owner.get(track.name)
        if track.existing and holder is not None and holder.id == track.key:
            continue
        if holder is not None:
            problems.append(
                f"track {track.key}: name {track.name!r} is taken by track {holder.id} "
                f"({holder.status}); choose another name"
            )
        elif track.name in claimed:
            problems.append(
                f"tracks {claimed[track.name]} and {track.key} would both be named {track.name!r}"
            )
        claimed[track.name] = track.key


def _assignments(
    state: OrgState,
    mode: OrganizeMode,
    by_key: dict[str, ProposedTrack],
    raw_assignments: list[Any],
    refs: dict[str, tuple[str, ...]] | None,
    aliases: dict[str, str],
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
        named = [str(t).strip() for t in raw.get("tracks") or [] if str(t).strip()]
        targets = {aliases.get(t, t) for t in named}
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
