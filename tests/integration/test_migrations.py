"""Migrations: a DB made at the first revision upgrades to head with its data intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from orchestrator.store.db import make_engine
from orchestrator.store.migrate import current_revision, head_revision, upgrade
from orchestrator.store.sqlite_store import HEAD_REVISION, SQLiteStore
from tests.conftest import OrchRunner

pytestmark = pytest.mark.integration

FIRST = "0001"
NOW = "2026-01-02 03:04:05.000000"

#: Rows written in the first revision's schema (raw SQL: the models may have moved on).
SEED_SQL = [
    (
        "INSERT INTO projects (id, path, base_branch, check_command, new_wos_since_organize,"
        " created_at) VALUES ('demo', '/nonexistent/demo', 'main', 'pytest -q', 2, :now)"
    ),
    *[
        (
            "INSERT INTO work_orders (id, project_id, title, goal, context, acceptance_criteria,"
            " non_goals, priority, tags, status, estimate_hours, created_on, updated_on, body,"
            " extra, source, attempts, last_error, done_commit, inserted_at, changed_at)"
            f" VALUES ('WO-2026-00{n}', 'demo', 'Title {n}', 'Goal {n}', '[\"ctx\"]',"
            f" '[\"works\"]', '[]', {n}, '[\"t{n}\"]', '{status}', 1.5, '2026-01-0{n}', NULL,"
            f" 'Body {n}', '{{\"owner\": \"alice\"}}', 'import', 0, NULL, NULL, :now, :now)"
        )
        for n, status in ((1, "done"), (2, "ready"), (3, "backlog"))
    ],
    "INSERT INTO wo_dependencies (wo_id, depends_on_id) VALUES ('WO-2026-002', 'WO-2026-001')",
    "INSERT INTO wo_dependencies (wo_id, depends_on_id) VALUES ('WO-2026-003', 'WO-2026-002')",
    *[
        (
            "INSERT INTO tracks (id, project_id, name, goal, type, status, priority, weight,"
            " budget_usd, parent_track_id, experiment, hypothesis, branch, worktree_path, scope,"
            " wo_queue, blocked_reason, merged_commit, created_at, updated_at, started_at,"
            f" completed_at) VALUES ('{tid}', 'demo', '{tid}', 'g', 'feature', 'draft', 2, 1.0,"
            f" NULL, {parent}, NULL, NULL, 'tracks/{tid}', NULL, '[]', '[]', NULL, NULL,"
            " :now, :now, NULL, NULL)"
        )
        for tid, parent in (("core", "NULL"), ("core-ui", "'core'"))
    ],
    "INSERT INTO wo_tracks (wo_id, track_id) VALUES ('WO-2026-001', 'core')",
    "INSERT INTO wo_tracks (wo_id, track_id) VALUES ('WO-2026-002', 'core')",
    (
        "INSERT INTO events (at, kind, subject_type, subject_id, from_status, to_status, run_id,"
        " data) VALUES (:now, 'wo_created', 'work_order', 'WO-2026-001', NULL, 'backlog', NULL,"
        " '{}')"
    ),
]
DATA_TABLES = ["projects", "work_orders", "wo_dependencies", "tracks", "wo_tracks", "events"]
#: Columns as in the first revision where later ones added some (filled by their migration).
FIRST_COLUMNS = {
    "wo_tracks": "wo_id, track_id",
    "projects": "id, path, base_branch, check_command, new_wos_since_organize, created_at",
}


def tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
        return {r[0] for r in rows}


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t: [
                tuple(r)
                for r in conn.exec_driver_sql(
                    f"SELECT {FIRST_COLUMNS.get(t, '*')} FROM {t} ORDER BY 1, 2"
                )
            ]
            for t in DATA_TABLES
        }


def make_old_db(db_path: Path) -> Engine:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(db_path)
    upgrade(engine, FIRST)
    with engine.begin() as conn:
        for sql in SEED_SQL:
            conn.execute(text(sql), {"now": NOW})
    return engine


@pytest.fixture
def old_db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_old_db(tmp_path / "home" / "state" / "orchestrator.db")
    yield engine
    engine.dispose()


def test_head_constant_matches_the_migrations(old_db: Engine) -> None:
    # SQLiteStore.open skips Alembic when the DB says HEAD_REVISION: a new migration must
    # bump it, or old DBs would never be upgraded.
    assert head_revision(old_db) == HEAD_REVISION


def test_first_revision_then_head_keeps_the_data(old_db: Engine) -> None:
    assert current_revision(old_db) == FIRST
    assert "transcripts" not in tables(old_db)
    before = rows(old_db)
    assert len(before["work_orders"]) == 3 and len(before["tracks"]) == 2

    upgrade(old_db)
    assert current_revision(old_db) == head_revision(old_db)
    assert "transcripts" in tables(old_db)
    assert rows(old_db) == before
    with old_db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        # 0004 mirrored each WO's status and priority on its links and counted them.
        mirrored = conn.exec_driver_sql(
            "SELECT wo_id, wo_status, wo_priority FROM wo_tracks ORDER BY wo_id"
        ).all()
        assert [tuple(r) for r in mirrored] == [
            ("WO-2026-001", "done", 1),
            ("WO-2026-002", "ready", 2),
        ]
        counts = conn.exec_driver_sql(
            "SELECT track_id, status, n FROM track_wo_counts ORDER BY status"
        ).all()
        assert [tuple(r) for r in counts] == [("core", "done", 1), ("core", "ready", 1)]
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").first() is None
        # 0005: an old project has no shared remote and no adding host.
        added = conn.exec_driver_sql("SELECT remote, host_id FROM projects").all()
        assert [tuple(r) for r in added] == [("", None)]

    # Upgrading again is a no-op.
    upgrade(old_db)
    assert rows(old_db) == before


def test_upgraded_data_reads_back_through_the_store(old_db: Engine) -> None:
    upgrade(old_db)
    store = SQLiteStore(old_db)
    _row, wo, tracks = store.get_work_order("WO-2026-002")
    assert (wo.title, wo.goal, wo.status.value, wo.priority) == ("Title 2", "Goal 2", "ready", 2)
    assert wo.context == ("ctx",) and wo.acceptance_criteria == ("works",)
    assert wo.tags == ("t2",) and wo.extra == {"owner": "alice"}
    assert wo.depends_on == ("WO-2026-001",)
    assert tracks == ["core"]
    listed = {t["id"]: t for t in store.list_tracks()}
    assert listed["core"]["wo_count"] == 2 and listed["core"]["done_count"] == 1
    assert listed["core-ui"]["parent"] == "core"


def test_orch_init_upgrades_an_old_db(old_db: Engine, tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = rows(old_db)
    old_db.dispose()
    orch = OrchRunner(home)
    result = orch.ok("init")
    assert HEAD_REVISION in result.out
    store = SQLiteStore.open(home / "state" / "orchestrator.db", migrate=False)
    try:
        assert store.schema_revision() == HEAD_REVISION
        assert rows(store.engine) == before
    finally:
        store.close()
    shown = orch.json("wo", "show", "WO-2026-003")
    assert shown["depends_on"] == ["WO-2026-002"]
    assert shown["extra"] == {"owner": "alice"}
    tracks = orch.json("track", "list")
    assert [t["id"] for t in tracks] == ["core", "core-ui"]
    status = orch.json("status")
    assert status["work_orders"] == {"done": 1, "ready": 1, "backlog": 1}
    # The upgraded home takes new writes.
    orch.ok("wo", "add", "--title", "after the upgrade")
    assert len(orch.json("wo", "list")) == 4


def test_any_command_upgrades_an_old_db(old_db: Engine, tmp_path: Path) -> None:
    home = tmp_path / "home"
    old_db.dispose()
    (home / "config").mkdir(parents=True)
    orch = OrchRunner(home)
    assert len(orch.json("wo", "list")) == 3
    store = SQLiteStore.open(home / "state" / "orchestrator.db", migrate=False)
    try:
        assert store.schema_revision() == HEAD_REVISION
    finally:
        store.close()


def test_the_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    """No model change without a migration: Alembic finds nothing to autogenerate."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import orchestrator.store.session_store
    import orchestrator.store.tables  # noqa: F401

    engine = make_engine(tmp_path / "fresh.db")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == [], json.dumps([str(d) for d in diff], indent=1)
