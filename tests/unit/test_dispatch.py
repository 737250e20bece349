"""Stride scheduling of free slots over tracks (orchestrator.domain.dispatch)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.daemon.supervisor import SupervisorState
from orchestrator.domain.dispatch import (
    ROUTINE_TRIGGERS,
    TRACK_FINISHED,
    Candidate,
    Directive,
    choose_tracks,
    global_round_needed,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cand(track_id: str, weight: float, age: int = 0) -> Candidate:
    """``age``: minutes after T0 the track was created (lower: older)."""
    return Candidate(track_id, weight, T0 + timedelta(minutes=age))


def picks(candidates: list[Candidate], rounds: int, slots: int = 1) -> list[str]:
    """``rounds`` dispatch rounds with ``slots`` free each (every pick finishes at once)."""
    passes: dict[str, float] = {}
    order: list[str] = []
    for _ in range(rounds):
        order += choose_tracks(candidates, slots, passes)
    return order


def test_weights_3_to_1_over_many_picks() -> None:
    order = picks([cand("a", 3.0), cand("b", 1.0, age=1)], 400)
    counts = Counter(order)
    assert counts == {"a": 300, "b": 100}
    # Not just in total: every prefix stays within one pick of the 3:1 share.
    for n in range(1, len(order) + 1):
        assert abs(order[:n].count("a") - 0.75 * n) <= 1, (n, order[:n])


def test_weights_3_to_1_in_every_window_of_four() -> None:
    order = picks([cand("a", 3.0), cand("b", 1.0)], 40)
    for start in range(0, 40, 4):
        assert Counter(order[start : start + 4]) == {"a": 3, "b": 1}, order


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"a": 1.0, "b": 1.0, "c": 2.0}, {"a": 25, "b": 25, "c": 50}),
        ({"a": 5.0, "b": 4.0, "c": 1.0}, {"a": 50, "b": 40, "c": 10}),
        ({"a": 0.5, "b": 0.25}, {"a": 67, "b": 33}),
    ],
)
def test_shares_follow_weights(weights: dict[str, float], expected: dict[str, int]) -> None:
    candidates = [cand(t, w, age=n) for n, (t, w) in enumerate(weights.items())]
    counts = Counter(picks(candidates, sum(expected.values())))
    for track, share in expected.items():
        assert abs(counts[track] - share) <= 1, counts


def test_zero_weight_gets_nothing() -> None:
    order = picks([cand("a", 0.0), cand("b", 1.0, age=1)], 10)
    assert order == ["b"] * 10
    assert picks([cand("a", 0.0)], 5) == []
    # Even with more slots than eligible tracks: one slot per track per round.
    assert choose_tracks([cand("a", 0.0), cand("b", 1.0)], 4, {}) == ["b"]


def test_no_slots_no_picks_and_passes_untouched() -> None:
    passes: dict[str, float] = {"a": 1.5}
    assert choose_tracks([cand("a", 1.0)], 0, passes) == []
    assert choose_tracks([], 3, passes) == []
    assert passes == {"a": 1.5}


def test_ties_go_to_the_older_track() -> None:
    young, old = cand("young", 1.0, age=10), cand("old", 1.0, age=0)
    assert choose_tracks([young, old], 1, {}) == ["old"]
    # With equal weights they then alternate, the older one first in every pair.
    assert picks([young, old], 6) == ["old", "young"] * 3


def test_ties_at_equal_age_break_by_id() -> None:
    assert choose_tracks([cand("b", 1.0), cand("a", 1.0)], 1, {}) == ["a"]


def test_several_slots_give_distinct_tracks_in_pass_order() -> None:
    passes = {"a": 2.0, "b": 0.5, "c": 1.0}
    chosen = choose_tracks([cand("a", 1.0), cand("b", 1.0), cand("c", 1.0)], 2, passes)
    assert chosen == ["b", "c"]
    assert passes == {"a": 2.0, "b": 1.5, "c": 2.0}


def test_new_track_starts_at_the_lowest_pass() -> None:
    passes = {"a": 5.0, "b": 7.0}
    # "c" neither jumps far ahead (pass 0) nor waits for the others (pass 7).
    chosen = choose_tracks([cand("a", 1.0), cand("b", 1.0), cand("c", 1.0, age=5)], 1, passes)
    assert chosen == ["a"]
    assert passes["c"] == 5.0
    assert choose_tracks([cand("a", 1.0), cand("b", 1.0), cand("c", 1.0, age=5)], 1, passes) == [
        "c"
    ]


def test_tiny_weight_still_progresses() -> None:
    order = picks([cand("a", 1.0), cand("tiny", 1e-9, age=1)], 5)
    assert order.count("tiny") == 1  # once, at the start (equal passes): never starved
    assert order.count("a") == 4


@given(
    weights=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=6),
    slots=st.integers(min_value=0, max_value=8),
)
def test_picks_are_distinct_eligible_and_bounded(weights: list[int], slots: int) -> None:
    candidates = [cand(f"t{n}", float(w), age=n) for n, w in enumerate(weights)]
    chosen = choose_tracks(candidates, slots, {})
    eligible = {c.track_id for c in candidates if c.weight > 0}
    assert len(chosen) == len(set(chosen)) == min(slots, len(eligible))
    assert set(chosen) <= eligible


@given(weights=st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=5))
def test_long_run_share_is_proportional(weights: list[int]) -> None:
    candidates = [cand(f"t{n}", float(w), age=n) for n, w in enumerate(weights)]
    rounds = 60 * sum(weights)
    counts = Counter(picks(candidates, rounds))
    for n, w in enumerate(weights):
        assert abs(counts[f"t{n}"] - rounds * w / sum(weights)) <= 1, counts


def _directive(weights: dict[str, float]) -> Directive:
    return Directive(1, weights, {}, "test", datetime.now(UTC))


@pytest.mark.parametrize("reason", sorted(ROUTINE_TRIGGERS))
def test_a_routine_trigger_asks_no_round_while_every_live_track_is_weighed(reason: str) -> None:
    weighed = _directive({"a": 1.0, "b": 2.0, "gone": 1.0})
    assert not global_round_needed(reason, ["a", "b"], weighed, None)
    # A track the agent never weighed (new, or came back) is news.
    assert global_round_needed(reason, ["a", "b", "new"], weighed, None)
    # No directive yet, or a budget to share out: always ask.
    assert global_round_needed(reason, ["a"], None, None)
    assert global_round_needed(reason, ["a", "b"], weighed, 5.0)


@pytest.mark.parametrize("reason", ["start", "interval", "track blocked"])
def test_any_other_trigger_asks_for_a_round(reason: str) -> None:
    assert global_round_needed(reason, ["a"], _directive({"a": 1.0}), None)


def test_a_routine_trigger_never_hides_one_that_asks_for_sure() -> None:
    state = SupervisorState(global_wanted=None)
    state.want_global(TRACK_FINISHED)
    state.want_global("track blocked")
    state.want_global(TRACK_FINISHED)  # arrives before the round has started
    assert state.global_wanted == "track blocked"
    state.global_wanted = None  # the round took it
    state.want_global(TRACK_FINISHED)
    assert state.global_wanted == TRACK_FINISHED
