"""Planning (``track_work``): what it reports matches a recomputation from the WO rows, after
every kind of change, and the dispatch loop's statements never scan a table."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from orchestrator.domain.lifecycle import WO_TRANSITIONS, TrackStatus, WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.roles import Role
from orchestrator.store import planning
from orchestrator.store.planning import STARTABLE, UNFINISHED
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import WODependencyRow, WorkOrderRow, WOTrackRow


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = SQLiteStore.open(tmp_path / "state.db")
    store.add_project("p", str(tmp_path), "main", "true")
    yield store
    store.close()


def expected(store: SQLiteStore, track_id: str) -> dict[str, Any]:
    """What track_work should say about a track, recomputed naively from the rows."""
    with store.reading() as session:
        links = session.exec(select(WOTrackRow).where(WOTrackRow.track_id == track_id))
        members = [session.get(WorkOrderRow, link.wo_id) for link in links]
        status = {w.id: w.status for w in session.exec(select(WorkOrderRow))}
        deps: dict[str, list[str]] = {}
        for d in session.exec(select(WODependencyRow)):
            deps.setdefault(d.wo_id, []).append(d.depends_on_id)
    rows = [w for w in members if w is not None]
    waiting = {
        w.id: sorted(d for d in deps.get(w.id, []) if status.get(d) != "done")
        for w in rows
        if w.status in STARTABLE
    }
    waiting = {k: v for k, v in waiting.items() if v}
    startable = sorted(
        (w for w in rows if w.status in STARTABLE and w.id not in waiting),
        key=lambda w: (w.priority, w.id),
    )
    return {
        "startable": [w.id for w in startable],
        "unfinished": sum(1 for w in rows if w.status in UNFINISHED),
        "total": len(rows),
        "failed": sum(1 for w in rows if w.status == "failed"),
        "running": sum(1 for w in rows if w.status == "running"),
        "waiting": waiting,
    }


def observed(store: SQLiteStore, track_id: str, shown: int) -> dict[str, Any]:
    [work] = store.track_work(shown=shown, track_id=track_id)
    return {
        "startable": [w["id"] for w in work.startable],
        "unfinished": work.unfinished,
        "total": work.total,
        "failed": work.failed,
        "running": work.running,
        "waiting": {k: sorted(v) for k, v in work.waiting.items()},
    }


def check(store: SQLiteStore, tracks: list[str]) -> None:
    for track_id in tracks:
        want = expected(store, track_id)
        got = observed(store, track_id, shown=1000)
        # Waiting is explained only when nothing can start.
        if want["startable"]:
            want["waiting"] = {}
        assert got == want, track_id
        first = observed(store, track_id, shown=2)
        assert first["startable"] == want["startable"][:2]


def test_counts_startable_and_waiting_follow_every_change(store: SQLiteStore) -> None:
    rng = random.Random(5)
    tracks = [store.create_track("p", f"t{i}", "feature").id for i in range(3)]
    for track_id in tracks:
        store.set_track_status(track_id, TrackStatus.READY)
        store.set_track_status(track_id, TrackStatus.ACTIVE)
    ids: list[str] = []
    for n in range(30):
        deps = tuple(rng.sample(ids, min(len(ids), rng.choice([0, 0, 1, 2]))))
        wo = store.add_work_order(
            "p", WorkOrder(id="", title=f"wo {n}", priority=rng.randint(1, 4), depends_on=deps)
        )
        ids.append(wo.id)
        store.assign(rng.choice(tracks), [wo.id])
        if rng.random() < 0.3:
            store.assign(rng.choice(tracks), [wo.id])
    check(store, tracks)
    for _ in range(80):
        wo_id = rng.choice(ids)
        row, wo, _tracks = store.get_work_order(wo_id)
        action = rng.random()
        moves = sorted(WO_TRANSITIONS[WOStatus(row.status)])
        if action < 0.6 and moves:
            store.set_wo_status(wo_id, rng.choice(moves))
        elif action < 0.75:
            store.upsert_work_orders("p", [replace(wo, priority=rng.randint(1, 5))])
        elif action < 0.9:
            store.assign(rng.choice(tracks), [wo_id], assign=False)
        else:
            store.assign(rng.choice(tracks), [wo_id])
        check(store, tracks)


def test_a_tracks_cost_is_the_sum_of_its_runs(store: SQLiteStore) -> None:
    track = store.create_track("p", "t", "feature", status=TrackStatus.ACTIVE).id
    other = store.create_track("p", "u", "feature", status=TrackStatus.ACTIVE).id
    runs = [store.start_run(Role.PROJECT, "d", project_id="p", track_id=track) for _ in range(3)]
    store.start_run(Role.PROJECT, "d", project_id="p", track_id=other)
    store.record_run(runs[0].id, cost_usd=0.25)
    store.record_run(runs[1].id, cost_usd=0.5)
    store.record_run(runs[0].id, cost_usd=0.75)  # a streamed cost grows: replaced, not added
    store.record_run(runs[2].id, track_id=other, cost_usd=2.0)  # moved to the other track
    cost = {w.track.id: w.cost_usd for w in store.track_work()}
    assert cost == {track: pytest.approx(1.25), other: pytest.approx(2.0)}


def test_startable_among_checks_status_dependencies_and_track(store: SQLiteStore) -> None:
    track = store.create_track("p", "t", "feature", status=TrackStatus.ACTIVE).id
    first = store.add_work_order("p", WorkOrder(id="", title="first"))
    second = store.add_work_order("p", WorkOrder(id="", title="second", depends_on=(first.id,)))
    outside = store.add_work_order("p", WorkOrder(id="", title="elsewhere"))
    store.assign(track, [first.id, second.id])
    wanted = [first.id, second.id, outside.id]
    assert store.startable_among(track, wanted) == {first.id}
    store.set_wo_status(first.id, WOStatus.READY)
    store.set_wo_status(first.id, WOStatus.RUNNING)
    assert store.startable_among(track, wanted) == set()
    store.set_wo_status(first.id, WOStatus.DONE)
    assert store.startable_among(track, wanted) == {second.id}


LOOP_STATEMENTS = [
    ("_COUNTS_SQL", ('["t"]',)),
    ("_COSTS_SQL", ('["t"]',)),
    ("_FIRST_STARTABLE_SQL", ("t", "ready", 1)),
    ("_WAITING_SQL", ('["t"]', planning.STARTABLE_JSON)),
    ("_SHOWN_SQL", ('["WO-2026-001"]',)),
    ("_STARTABLE_AMONG_SQL", ("t", '["WO-2026-001"]', planning.STARTABLE_JSON)),
]


@pytest.mark.parametrize(("name", "args"), LOOP_STATEMENTS)
def test_planning_reads_by_index_only(store: SQLiteStore, name: str, args: tuple[Any]) -> None:
    """No statement of the dispatch loop scans a table: each is an index search (the
    scans left are of the JSON list of ids it was given)."""
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + getattr(planning, name), args).all()
    steps = [str(row[3]) for row in plan]
    scans = [s for s in steps if s.startswith("SCAN") and "json_each" not in s]
    assert steps and not scans, steps
