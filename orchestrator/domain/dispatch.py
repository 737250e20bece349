"""Which tracks get the free agent slots: weighted fair sharing (stride scheduling).

Each track carries a *pass*: the work it has been given so far divided by its weight. A free
slot goes to the eligible track with the lowest pass (ties: the older track first), and that
track's pass grows by ``1 / weight``. Over time tracks receive slots in proportion to the
global agent's weights, without any track starving. Passes are fairness bookkeeping only:
losing them on restart costs nothing but a little short-term fairness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

#: A weight of 0 means "no slots"; tiny positive weights still make progress, slowly.
MIN_WEIGHT = 1e-6


@dataclass(frozen=True)
class Candidate:
    track_id: str
    weight: float
    created_at: datetime


def choose_tracks(
    candidates: list[Candidate], free_slots: int, passes: dict[str, float]
) -> list[str]:
    """Up to ``free_slots`` distinct track ids, in the order they should get a slot.

    ``passes`` is updated in place. Tracks with weight 0 get nothing. A new track starts at
    the lowest pass among the candidates, so it neither jumps the queue nor waits for the
    others to catch up.
    """
    eligible = [c for c in candidates if c.weight > 0]
    if not eligible or free_slots <= 0:
        return []
    known = [passes[c.track_id] for c in eligible if c.track_id in passes]
    floor = min(known) if known else 0.0
    for c in eligible:
        passes.setdefault(c.track_id, floor)
    chosen: list[str] = []
    ordered = sorted(eligible, key=lambda c: (passes[c.track_id], c.created_at, c.track_id))
    for candidate in ordered[:free_slots]:
        chosen.append(candidate.track_id)
        passes[candidate.track_id] += 1.0 / max(candidate.weight, MIN_WEIGHT)
    return chosen


def share_within_groups(
    weights: Mapping[str, float], groups: Mapping[str, str]
) -> dict[str, float]:
    """Weights where every member of a group (an experiment's variants) gets the group's
    mean: the variants race on equal terms, whatever weights the global agent gave each,
    while the experiment as a whole keeps the share the global agent gave it."""
    members: dict[str, list[float]] = {}
    for track_id, weight in weights.items():
        if track_id in groups:
            members.setdefault(groups[track_id], []).append(weight)
    result = dict(weights)
    for track_id in weights:
        group = groups.get(track_id)
        if group is not None:
            result[track_id] = sum(members[group]) / len(members[group])
    return result


@dataclass(frozen=True)
class Directive:
    """The global agent's word on the tracks: weights (share of the slots) and budgets."""

    id: int
    weights: dict[str, float]
    budgets: dict[str, float]
    reason: str
    created_at: datetime
    run_id: str | None = None


#: Triggers that only move tracks the global agent has weighed already along their lifecycle
#: (one became active, one finished): the tracks left keep the weights it gave them.
TRACKS_ACTIVATED = "tracks activated"
TRACK_FINISHED = "track finished"
ROUTINE_TRIGGERS = frozenset({TRACKS_ACTIVATED, TRACK_FINISHED})


def global_round_needed(
    reason: str,
    live_tracks: Iterable[str],
    directive: Directive | None,
    budget_usd: float | None,
) -> bool:
    """Whether a global round could change anything: every trigger asks the agent, except a
    routine one while the latest directive weighs every track that can still run. A run with
    a budget always asks: the money left changes what the agent gives each track. Skipping
    the rest saves a whole CLI session per track on a night of many tracks."""
    if reason not in ROUTINE_TRIGGERS or budget_usd is not None or directive is None:
        return True
    return not set(live_tracks) <= directive.weights.keys()
