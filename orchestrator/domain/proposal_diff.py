"""What a validated proposal would change today: the plan the store applies, and the diff a
human reviews (tracks added, renamed, merged, split, re-parented; WOs moved, with counts)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.organization import OrganizeMode, OrgState, Proposal, ProposedTrack


@dataclass(frozen=True)
class TrackEdit:
    """Changes to one existing track; ``None`` fields stay as they are."""

    id: str
    name: str | None = None
    goal: str | None = None
    reparent: bool = False
    #: The new parent (a proposal key or a track id) when ``reparent``.
    parent: str | None = None
    cancel: bool = False


@dataclass(frozen=True)
class LinkChange:
    wo_id: str
    #: Proposal keys or existing track ids the WO joins.
    add: tuple[str, ...] = ()
    #: Existing track ids the WO leaves.
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    #: New tracks, each after its parent when the parent is new too.
    new_tracks: tuple[ProposedTrack, ...] = ()
    edits: tuple[TrackEdit, ...] = ()
    links: tuple[LinkChange, ...] = ()

    @property
    def structural(self) -> bool:
        """Anything beyond placing WOs in tracks that exist: needs a human's review."""
        return bool(self.new_tracks or self.edits)

    @property
    def empty(self) -> bool:
        return not (self.new_tracks or self.edits or self.links)


def plan_application(state: OrgState, proposal: Proposal) -> Plan:
    new = [t for t in proposal.tracks if not t.existing]
    new_keys = {t.key for t in new}
    ordered: list[ProposedTrack] = []
    placed: set[str] = set()
    while len(ordered) < len(new):
        ready = [
            t
            for t in new
            if t.key not in placed and (t.parent not in new_keys or t.parent in placed)
        ]
        if not ready:  # a cycle; validation refuses those, so this is only a guard
            ready = [t for t in new if t.key not in placed]
        for track in ready:
            ordered.append(track)
            placed.add(track.key)
    edits: list[TrackEdit] = []
    for track in proposal.tracks:
        current = state.track(track.key)
        if not track.existing or current is None:
            continue
        edit = TrackEdit(
            id=track.key,
            name=track.name if track.name != current.name else None,
            goal=track.goal if track.goal != current.goal else None,
            reparent=track.parent != current.parent,
            parent=track.parent,
            cancel=track.status == TrackStatus.CANCELLED.value != current.status,
        )
        if edit.name or edit.goal is not None or edit.reparent or edit.cancel:
            edits.append(edit)
    wos = {w.id: w for w in state.work_orders}
    links: list[LinkChange] = []
    for wo_id, targets in sorted(proposal.assignments.items()):
        wo = wos.get(wo_id)
        if wo is None:  # validated against this project; only a foreign state lacks it
            continue
        current_ids = set(wo.tracks)
        add = tuple(sorted(set(targets) - current_ids))
        remove: tuple[str, ...] = ()
        if proposal.mode is not OrganizeMode.INCREMENTAL:
            remove = tuple(sorted(current_ids - set(targets)))
        if add or remove:
            links.append(LinkChange(wo_id, add, remove))
    return Plan(tuple(ordered), tuple(edits), tuple(links))


@dataclass(frozen=True)
class ProposalDiff:
    added: tuple[ProposedTrack, ...] = ()
    renamed: tuple[tuple[str, str, str], ...] = ()
    goals: tuple[tuple[str, str, str], ...] = ()
    #: (track, old parent, new parent); a new parent of None is a promotion to top level.
    reparented: tuple[tuple[str, str | None, str | None], ...] = ()
    cancelled: tuple[str, ...] = ()
    merged: tuple[tuple[str, str], ...] = ()
    split: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: WOs without a track that get one.
    assigned: int = 0
    #: (WO, tracks before, tracks after) of WOs that had tracks and change them.
    moved: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
    unchanged: int = 0
    #: Open WOs still without a live track afterwards.
    still_unassigned: int = 0
    #: Per track (name of a new track, id of an existing one): (WOs joining, WOs leaving).
    per_track: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def structural(self) -> bool:
        return bool(self.added or self.renamed or self.goals or self.reparented or self.cancelled)

    def to_json(self) -> dict[str, Any]:
        return {
            "tracks_added": [t.to_json() for t in self.added],
            "tracks_renamed": [{"id": i, "from": a, "to": b} for i, a, b in self.renamed],
            "goals_changed": [{"id": i, "from": a, "to": b} for i, a, b in self.goals],
            "tracks_reparented": [{"id": i, "from": a, "to": b} for i, a, b in self.reparented],
            "tracks_cancelled": list(self.cancelled),
            "tracks_merged": [{"id": i, "into": into} for i, into in self.merged],
            "tracks_split": [{"id": i, "into": list(into)} for i, into in self.split],
            "work_orders": {
                "assigned": self.assigned,
                "moved": len(self.moved),
                "unchanged": self.unchanged,
                "still_unassigned": self.still_unassigned,
            },
            "moves": [{"wo_id": w, "from": list(a), "to": list(b)} for w, a, b in self.moved],
            "per_track": {t: {"in": i, "out": o} for t, (i, o) in self.per_track.items()},
        }


def diff_proposal(state: OrgState, proposal: Proposal) -> ProposalDiff:
    plan = plan_application(state, proposal)
    names = {t.key: t.name for t in proposal.tracks if not t.existing}

    def label(target: str | None) -> str | None:
        return None if target is None else names.get(target, target)

    renamed, goals, reparented, cancelled = [], [], [], []
    for edit in plan.edits:
        current = state.track(edit.id)
        assert current is not None
        if edit.name:
            renamed.append((edit.id, current.name, edit.name))
        if edit.goal is not None:
            goals.append((edit.id, current.goal, edit.goal))
        if edit.reparent:
            reparented.append((edit.id, current.parent, label(edit.parent)))
        if edit.cancel:
            cancelled.append(edit.id)
    wos = {w.id: w for w in state.work_orders}
    joining: Counter[str] = Counter()
    leaving: Counter[str] = Counter()
    destinations: dict[str, set[str]] = {}
    moved, assigned = [], 0
    for change in plan.links:
        before = wos[change.wo_id].tracks
        after = tuple(sorted((set(before) - set(change.remove)) | set(change.add)))
        joining.update(label(t) or t for t in change.add)
        leaving.update(change.remove)
        for source in change.remove:
            destinations.setdefault(source, set()).update(label(t) or t for t in change.add)
        if before:
            moved.append((change.wo_id, before, tuple(label(t) or t for t in after)))
        else:
            assigned += 1
    counts = state.wo_counts()
    merged, split = [], []
    for source, dests in sorted(destinations.items()):
        left = counts.get(source, (0, 0))[0] - leaving[source] + joining[source]
        if len(dests) == 1 and (left == 0 or source in cancelled):
            merged.append((source, next(iter(dests))))
        elif len(dests) >= 2 and leaving[source] >= 2:
            split.append((source, tuple(sorted(dests))))
    changed = {c.wo_id for c in plan.links}
    has_track = {w for w, targets in proposal.assignments.items() if targets}
    still = sum(
        1 for w in state.work_orders if not w.closed and not w.tracks and w.id not in has_track
    )
    per_track = {t: (joining[t], leaving[t]) for t in sorted(set(joining) | set(leaving), key=str)}
    return ProposalDiff(
        added=plan.new_tracks,
        renamed=tuple(renamed),
        goals=tuple(goals),
        reparented=tuple(reparented),
        cancelled=tuple(cancelled),
        merged=tuple(merged),
        split=tuple(split),
        assigned=assigned,
        moved=tuple(moved),
        unchanged=len(set(proposal.assignments) - changed),
        still_unassigned=still,
        per_track=per_track,
    )
