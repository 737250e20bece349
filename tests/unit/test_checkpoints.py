"""Checkpoint records: the sha256 over the record, and the store's "newest good" lookup.

A record whose checksum does not match (the checksum or any field damaged) is reported as
corrupt and skipped for the previous good one of the same track.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.checkpoint import CheckpointRecord
from orchestrator.store.sqlite_store import SQLiteStore

RECORD = CheckpointRecord(
    track_id="alpha",
    run_id=None,
    wo_id="WO-2026-001",
    attempt=2,
    session_id="3f9179ac-a120-4cd2-adcc-436cab25b8a3",
    head_sha="a" * 40,
    snapshot_ref="refs/orchestrator/checkpoints/alpha/3",
    snapshot_sha="b" * 40,
    cost_usd=0.125,
    reason="interrupted",
)


# -- the record --------------------------------------------------------------------------------


def test_checksum_is_sha256_of_the_canonical_json() -> None:
    canonical = json.dumps(dataclasses.asdict(RECORD), sort_keys=True, separators=(",", ":"))
    assert RECORD.checksum() == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(RECORD.checksum()) == 64


def test_checksum_is_stable_and_verifies() -> None:
    again = dataclasses.replace(RECORD)
    assert again.checksum() == RECORD.checksum()
    assert RECORD.verify(RECORD.checksum())
    assert not RECORD.verify("0" * 64)
    assert not RECORD.verify("")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("track_id", "beta"),
        ("run_id", "run-000000000000"),
        ("wo_id", "WO-2026-002"),
        ("attempt", 3),
        ("session_id", None),
        ("head_sha", "c" * 40),
        ("snapshot_ref", "refs/orchestrator/checkpoints/alpha/4"),
        ("snapshot_sha", None),
        ("cost_usd", 0.126),
        ("reason", "wo_done"),
    ],
)
def test_every_field_is_covered(name: str, value: object) -> None:
    damaged = dataclasses.replace(RECORD, **{name: value})
    assert damaged.checksum() != RECORD.checksum()
    assert not damaged.verify(RECORD.checksum())


@settings(max_examples=60, deadline=None)
@given(
    session=st.one_of(st.none(), st.text(max_size=40)),
    cost=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    attempt=st.integers(min_value=1, max_value=1000),
)
def test_any_record_verifies_its_own_checksum(
    session: str | None, cost: float, attempt: int
) -> None:
    record = dataclasses.replace(RECORD, session_id=session, cost_usd=cost, attempt=attempt)
    assert record.verify(record.checksum())


# -- the store ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("checkpoint-db") / "orchestrator.db"
    store = SQLiteStore.open(path)
    try:
        store.add_project("app", "/nonexistent/app", "main", "true")
        for track in ("alpha", "beta"):
            store.create_track("app", track, "feature")
    finally:
        store.close()
    return path


@pytest.fixture
def store(_db_template: Path, tmp_path: Path) -> Iterator[SQLiteStore]:
    db = tmp_path / "orchestrator.db"
    shutil.copy(_db_template, db)
    opened = SQLiteStore.open(db)
    yield opened
    opened.close()


def _add(store: SQLiteStore, track: str = "alpha", **fields: object) -> int:
    number = store.next_checkpoint_number(track)
    record = dataclasses.replace(
        RECORD,
        track_id=track,
        snapshot_ref=f"refs/orchestrator/checkpoints/{track}/{number}",
        **fields,  # type: ignore[arg-type]
    )
    row = store.add_checkpoint(record)
    assert row.id is not None
    return row.id


def _sql(store: SQLiteStore, query: str, *args: object) -> None:
    db = store.engine.url.database
    assert db is not None
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(query, args)
    finally:
        conn.close()


def test_checkpoints_are_numbered_per_track_from_one(store: SQLiteStore) -> None:
    assert store.next_checkpoint_number("alpha") == 1
    _add(store, "alpha")
    _add(store, "alpha")
    _add(store, "beta")
    assert store.next_checkpoint_number("alpha") == 3
    assert store.next_checkpoint_number("beta") == 2


def test_stored_checksum_is_the_records(store: SQLiteStore) -> None:
    first = _add(store, reason="wo_start")
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is not None and good.id == first and corrupt == []
    assert (
        good.checksum
        == dataclasses.replace(
            RECORD, snapshot_ref="refs/orchestrator/checkpoints/alpha/1", reason="wo_start"
        ).checksum()
    )


def test_newest_good_checkpoint_wins(store: SQLiteStore) -> None:
    _add(store, reason="wo_start")
    newest = _add(store, reason="interrupted", cost_usd=0.5)
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is not None and good.id == newest and good.cost_usd == 0.5
    assert corrupt == []


def test_corrupt_checksum_is_reported_and_skipped_for_the_previous_good(
    store: SQLiteStore,
) -> None:
    older = _add(store, reason="wo_start")
    newest = _add(store, reason="interrupted")
    _sql(store, "UPDATE checkpoints SET checksum = ? WHERE id = ?", "0" * 64, newest)
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is not None and good.id == older
    assert [c.id for c in corrupt] == [newest]


def test_a_damaged_field_under_an_intact_checksum_is_corrupt(store: SQLiteStore) -> None:
    older = _add(store, reason="wo_start")
    newest = _add(store, reason="interrupted")
    # A bit flip in the snapshot id: the row still carries the checksum of the true record.
    _sql(store, "UPDATE checkpoints SET snapshot_sha = ? WHERE id = ?", "d" * 40, newest)
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is not None and good.id == older
    assert [c.id for c in corrupt] == [newest]


def test_several_corrupt_checkpoints_are_all_skipped(store: SQLiteStore) -> None:
    first = _add(store, reason="wo_start")
    second = _add(store, reason="interrupted")
    third = _add(store, reason="wo_done")
    _sql(store, "UPDATE checkpoints SET checksum = 'x' WHERE id IN (?, ?)", second, third)
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is not None and good.id == first
    assert [c.id for c in corrupt] == [third, second]


def test_no_good_checkpoint_left(store: SQLiteStore) -> None:
    only = _add(store)
    _sql(store, "UPDATE checkpoints SET cost_usd = 99 WHERE id = ?", only)
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is None
    assert [c.id for c in corrupt] == [only]


def test_no_checkpoint_at_all(store: SQLiteStore) -> None:
    assert store.latest_good_checkpoint("alpha") == (None, [])


def test_corruption_on_one_track_does_not_touch_another(store: SQLiteStore) -> None:
    alpha = _add(store, "alpha")
    beta = _add(store, "beta")
    _sql(store, "UPDATE checkpoints SET checksum = 'x' WHERE id = ?", alpha)
    good, corrupt = store.latest_good_checkpoint("beta")
    assert good is not None and good.id == beta and corrupt == []
    good, corrupt = store.latest_good_checkpoint("alpha")
    assert good is None and [c.id for c in corrupt] == [alpha]


def test_adding_a_checkpoint_is_journaled(store: SQLiteStore) -> None:
    row_id = _add(store, reason="interrupted")
    db = store.engine.url.database
    assert db is not None
    conn = sqlite3.connect(db)
    try:
        rows = list(conn.execute("SELECT subject_id, data FROM events WHERE kind = 'checkpoint'"))
    finally:
        conn.close()
    assert len(rows) == 1
    subject, data = rows[0]
    assert subject == "alpha"
    assert json.loads(data)["checkpoint"] == row_id
