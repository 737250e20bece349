"""Structure rules of a proposal: parents exist, no parent cycle, sub-tracks one level deep,
at most ``MAX_TOP_LEVEL_TRACKS`` top-level tracks after the change."""

from __future__ import annotations

from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.organization import OrganizeMode, OrgState, ProposedTrack


def check_structure(
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
