"""The run's budget as shares: what is left is split over the free slots, never more."""

from __future__ import annotations

import pytest

from orchestrator.domain.budget import MIN_SHARE_USD, RunBudget


def test_shares_split_what_is_left_over_the_free_slots() -> None:
    budget = RunBudget(budget_usd=1.0, slots=2)
    assert budget.grant("a", spent_usd=0.2, worker=True) == pytest.approx(0.4)
    assert budget.grant("b", spent_usd=0.2, worker=True) == pytest.approx(0.4)
    assert budget.left(0.2) == pytest.approx(0.0)
    assert budget.exhausted(0.2)


def test_a_released_share_is_back_in_what_is_left() -> None:
    budget = RunBudget(budget_usd=1.0, slots=2)
    budget.grant("a", spent_usd=0.0)
    budget.release("a")
    assert budget.left(0.3) == pytest.approx(0.7)
    assert not budget.exhausted(0.3)


def test_only_workers_count_as_work_in_flight() -> None:
    budget = RunBudget(budget_usd=0.025, slots=2)
    budget.grant("global", spent_usd=0.0)
    assert not budget.workers_in_flight()
    budget.grant("worker", spent_usd=0.0, worker=True)
    assert budget.workers_in_flight()
    budget.release("worker")
    assert not budget.workers_in_flight()
    assert budget.shares.keys() == {"global"}


def test_decisions_beside_the_slots_leave_every_free_slot_a_share() -> None:
    """However many decision sessions run at once, each takes a fraction of what is left
    after a minimal share per free worker slot: the workers started next get theirs."""
    budget = RunBudget(budget_usd=0.05, slots=2)
    decisions = [budget.grant(f"decide-{n}", spent_usd=0.0) for n in range(6)]
    assert all(0 < d < 0.05 / 2 for d in decisions)
    first = budget.grant("w1", spent_usd=0.0, worker=True)
    second = budget.grant("w2", spent_usd=0.0, worker=True)
    assert first >= MIN_SHARE_USD and second >= MIN_SHARE_USD
    assert budget.left(0.0) == pytest.approx(0.0)


def test_a_worker_gets_the_smallest_useful_share_while_one_is_left() -> None:
    budget = RunBudget(budget_usd=0.015, slots=2)
    assert budget.grant("w", spent_usd=0.0, worker=True) == pytest.approx(MIN_SHARE_USD)
    assert budget.grant("w2", spent_usd=0.0, worker=True) == pytest.approx(0.005)
