"""Named locks in the database: one holder at a time across every host on it.

Merges into a project's base branch take ``merge:<project>`` so that hosts do not race
(their pushes would be refused and retried). A lock is a row with a holder and an expiry,
taken by one transaction, never held in an open transaction (a push may take seconds, and
on SQLite an open write transaction would stall every other writer meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_exponential

from orchestrator.domain.errors import OrchestratorError
from orchestrator.store.base import StoreBase
from orchestrator.store.hosts import aware as _aware
from orchestrator.store.tables import NamedLockRow, utcnow


class LockTimeoutError(OrchestratorError):
    """A named lock stayed held by another holder for longer than the caller waits."""


class NamedLockQueries(StoreBase):
    def try_lock(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take ``name`` if it is free, expired or ours already; False while another holds it."""
        try:
            with self.writing() as session:
                now = utcnow()
                row = session.get(NamedLockRow, name, with_for_update=True)
                if row is None:
                    row = NamedLockRow(name=name, holder=holder, acquired_at=now, expires_at=now)
                elif row.holder != holder and _aware(row.expires_at) > now:
                    return False
                row.holder, row.acquired_at = holder, now
                row.expires_at = now + timedelta(seconds=ttl_s)
                session.add(row)
                return True
        except IntegrityError:
            return False  # another holder inserted it first

    def unlock(self, name: str, holder: str) -> None:
        with self.writing() as session:
            row = session.get(NamedLockRow, name, with_for_update=True)
            if row is not None and row.holder == holder:
                session.delete(row)

    @contextmanager
    def holding(self, name: str, holder: str, ttl_s: float, wait_s: float) -> Iterator[None]:
        """Hold ``name`` for the block, waiting up to ``wait_s`` for it; LockTimeoutError."""
        retrying = Retrying(
            retry=retry_if_result(lambda taken: not taken),
            stop=stop_after_delay(wait_s),
            wait=wait_exponential(multiplier=0.02, max=0.5),
            retry_error_callback=lambda _state: False,
        )
        if not retrying(self.try_lock, name, holder, ttl_s):
            raise LockTimeoutError(f"lock {name} is held by another host for over {wait_s:g}s")
        try:
            yield
        finally:
            self.unlock(name, holder)
