"""The store conformance suite (``orchestrator.store.testing``) against every backend.

``store_factory`` is parametrized over backends: a new backend adds one ``pytest.param``
(a factory of empty, migrated stores) to ``BACKENDS``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.store.contract import Store
from orchestrator.store.sqlite_store import open_store
from orchestrator.store.testing import STORE_CONTRACTS, run_store_conformance

pytestmark = [pytest.mark.integration]

StoreFactory = Callable[[], Store]


def sqlite_factory(tmp_path: Path) -> StoreFactory:
    numbers = itertools.count()
    return lambda: open_store(f"sqlite:///{tmp_path / f'state-{next(numbers)}.db'}")


#: name -> (tmp_path -> factory of fresh stores)
BACKENDS: dict[str, Callable[[Path], StoreFactory]] = {
    "sqlite": sqlite_factory,
}


@pytest.fixture(params=sorted(BACKENDS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of empty, migrated stores of one backend per parameter."""
    return BACKENDS[request.param](tmp_path)


@pytest.mark.parametrize("contract", list(STORE_CONTRACTS))
def test_store_contract(store_factory: StoreFactory, contract: str) -> None:
    run_store_conformance(store_factory, only=frozenset({contract}))


def test_the_store_is_the_contract(store_factory: StoreFactory) -> None:
    store = store_factory()
    try:
        assert isinstance(store, Store)
    finally:
        store.close()
