"""The store conformance suite (``orchestrator.store.testing``) against every backend.

``store_factory`` is parametrized over backends: a new backend adds one ``pytest.param``
(a factory of empty, migrated stores) to ``BACKENDS``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from orchestrator.store.contract import Store
from orchestrator.store.sqlite_store import open_store
from orchestrator.store.testing import STORE_CONTRACTS, run_store_conformance
from tests.support.postgres import fresh_database

pytestmark = [pytest.mark.integration]

StoreFactory = Callable[[], Store]


def sqlite_factory(tmp_path: Path, _cleanup: ExitStack) -> StoreFactory:
    numbers = itertools.count()
    return lambda: open_store(f"sqlite:///{tmp_path / f'state-{next(numbers)}.db'}")


def postgres_factory(_tmp_path: Path, cleanup: ExitStack) -> StoreFactory:
    """Each store on a fresh database of the test server, dropped after the test."""
    return lambda: open_store(cleanup.enter_context(fresh_database()))


#: name -> ((tmp_path, what to undo after the test) -> factory of fresh stores)
BACKENDS: dict[str, Callable[[Path, ExitStack], StoreFactory]] = {
    "sqlite": sqlite_factory,
    "postgres": postgres_factory,
}


@pytest.fixture(params=sorted(BACKENDS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of empty, migrated stores of one backend per parameter."""
    with ExitStack() as cleanup:
        yield BACKENDS[request.param](tmp_path, cleanup)


@pytest.mark.parametrize("contract", list(STORE_CONTRACTS))
def test_store_contract(store_factory: StoreFactory, contract: str) -> None:
    run_store_conformance(store_factory, only=frozenset({contract}))


def test_the_store_is_the_contract(store_factory: StoreFactory) -> None:
    store = store_factory()
    try:
        assert isinstance(store, Store)
    finally:
        store.close()
