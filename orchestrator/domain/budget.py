"""The run's ``--budget`` as a hard cap: each session gets a share as its own cost limit.

What is left of the budget (spent = the committed cost of the run's finished sessions) minus
the shares of the sessions in flight is split evenly over the worker slots still free, and a
new session may spend at most its share (the CLI's ``max_budget_usd`` and our own running
estimate stop it). Decision sessions run beside the slots, as many as there are: each gets
a fraction of what is left after a minimal share is kept for every free worker slot, so
however many decide at once, a worker the dispatcher starts still finds its share. Shares
never add up to more than what is left, so the run ends within the budget plus, at most,
the turn in which each session in flight crossed its share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: A share smaller than this buys no useful turn: the budget counts as spent.
MIN_SHARE_USD = 0.01


@dataclass
class RunBudget:
    budget_usd: float
    slots: int
    #: Run id -> the share it was granted, while the session is in flight.
    shares: dict[str, float] = field(default_factory=dict)
    #: The run ids among ``shares`` that are workers (the sessions that produce work).
    workers: set[str] = field(default_factory=set)

    def left(self, spent_usd: float) -> float:
        """What no session holds yet: the budget minus the spent and the granted."""
        return self.budget_usd - spent_usd - sum(self.shares.values())

    def exhausted(self, spent_usd: float) -> bool:
        """Nothing is left for a new session (those in flight may still finish)."""
        return self.left(spent_usd) < MIN_SHARE_USD

    def grant(self, run_id: str, spent_usd: float, *, worker: bool = False) -> float:
        """Reserve a share for ``run_id`` and return it (0 when nothing is left)."""
        free = max(self.slots - len(self.workers), 1)
        left = self.left(spent_usd)
        if worker:
            # At least the smallest useful share while one is left: a free slot may have no
            # track to fill it, and a share below it would only fail the session.
            share = max(left / free, min(left, MIN_SHARE_USD), 0.0)
        else:
            kept = MIN_SHARE_USD * (self.slots - len(self.workers))
            share = max((left - kept) / (self.slots + 1), 0.0)
        self.shares[run_id] = share
        if worker:
            self.workers.add(run_id)
        return share

    def workers_in_flight(self) -> bool:
        """A worker holds a share: its WO may still finish within it. Decision sessions
        alone are no reason to wait once the budget is exhausted (a stop ends them)."""
        return bool(self.workers)

    def release(self, run_id: str) -> None:
        """The session ended: its real cost is in the spent figure from now on."""
        self.shares.pop(run_id, None)
        self.workers.discard(run_id)
