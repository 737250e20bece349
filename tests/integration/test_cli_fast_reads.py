"""The fast read commands print byte for byte what the full CLI prints for the same home,
without loading typer or SQLAlchemy, and leave every other case to the full CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.parking import Park, ParkScope
from orchestrator.domain.roles import Role
from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import run_main

pytestmark = pytest.mark.integration

READS = [
    ["status", "--json"],
    ["track", "list", "--json"],
    ["wo", "list", "--track", "core", "--json"],
    ["wo", "list", "--json", "--track=ui"],
]


def fill(home: Path) -> None:
    """Two projects; a track with a sub-track; WOs in several tracks, with dependencies,
    odd costs and text; a live daemon lease (this process) and a directive."""
    store = SQLiteStore.open(home / "state" / "orchestrator.db")
    try:
        store.add_project("demo", "/nonexistent/démo", "main", "pytest -q")
        store.add_project("other", "/nonexistent/other", "trunk", "")
        core = store.create_track("demo", "core", "feature", goal="the core", priority=2).id
        ui = store.create_track("demo", "ui", "feature", parent=core).id
        store.create_track("other", "core", "bugfix")
        for track in (core, ui):
            store.set_track_status(track, TrackStatus.READY)
            store.set_track_status(track, TrackStatus.ACTIVE)
        ids = []
        for n in range(6):
            deps = (ids[-1],) if n % 2 else ()
            wo = WorkOrder(
                id="", title=f"Wö {n} \"quoted\"\nline", priority=1 + n % 3, tags=("ui", "db"),
                depends_on=deps,
            )  # fmt: skip
            ids.append(store.add_work_order("demo", wo).id)
        store.assign(core, ids[:4])
        store.assign(ui, ids[2:])
        store.set_wo_status(ids[0], WOStatus.READY)
        run = store.claim_work_order(ids[0], core, "daemon-1")
        store.record_run(run.id, cost_usd=0.1 + 0.2, session_id="s-1")
        store.set_wo_status(ids[5], WOStatus.CANCELLED)
        store.start_run(Role.GLOBAL, "daemon-1")
        store.add_directive({core: 2.5, ui: 1 / 3}, "the core first")
        store.acquire_lease("daemon-1", os.getpid(), __import__("socket").gethostname(), 600)
    finally:
        store.close()


def fast_cli(home: Path, argv: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    """The console script's code path in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    code = "from orchestrator.cli import main; main()"
    return subprocess.run(
        [sys.executable, *flags, "-c", code, "--home", str(home), *argv],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture
def filled(home: Path) -> Path:
    fill(home)
    return home


@pytest.mark.parametrize("argv", READS, ids=" ".join)
def test_fast_output_is_the_full_clis(filled: Path, argv: list[str]) -> None:
    fast = fast_cli(filled, argv, "-X", "importtime")
    assert fast.returncode == 0, fast.stderr
    imported = {line.split("|")[-1].strip() for line in fast.stderr.splitlines()}
    assert not {"typer", "sqlalchemy", "sqlmodel", "pydantic", "rich"} & imported
    full = run_main(["--home", str(filled), *argv])
    assert full.code == 0, str(full)
    assert fast.stdout == full.out
    assert len(fast.stdout) > 100


def test_parked_work_is_left_to_the_full_cli(filled: Path) -> None:
    store = SQLiteStore.open(filled / "state" / "orchestrator.db")
    try:
        store.note_daemon_started("daemon-1")
        store.record_park(
            Park(ParkScope.RUN, "daemon-1", "no login", datetime.now(UTC), track_id="core")
        )
    finally:
        store.close()
    fast = fast_cli(filled, ["status", "--json"], "-X", "importtime")
    assert fast.returncode == 0, fast.stderr
    assert "sqlalchemy" in fast.stderr  # the full store answered
    full = run_main(["--home", str(filled), "status", "--json"])
    assert fast.stdout == full.out and '"no login"' in full.out


def _without_ages(status: dict[str, Any]) -> dict[str, Any]:
    """The status with the seconds-since figures left out (the two reads are not at once)."""
    for host in status["hosts"]:
        assert host.pop("seen_s") >= 0
        for lease in host["tracks"]:
            assert lease.pop("age_s") >= 0 and lease.pop("held_s") >= 0
    return status


def test_hosts_and_their_leases_are_the_full_clis(filled: Path) -> None:
    (filled / "state" / "host-id").write_text("box-b\n")
    store = SQLiteStore.open(filled / "state" / "orchestrator.db")
    try:
        store.register_host("box-a", "machine-a", "/homes/a", 4242)
        store.register_host("box-b", "machine-b", str(filled), None)
        assert store.acquire_track_lease("core", "box-a", 600.0) is not None
        store.register_host("box-c", "machine-c", "/homes/c", 7)
        assert store.acquire_track_lease("ui", "box-c", 0.0) is not None  # expired
    finally:
        store.close()
    fast = fast_cli(filled, ["status", "--json"], "-X", "importtime")
    assert fast.returncode == 0, fast.stderr
    assert "sqlalchemy" not in fast.stderr  # answered by the fast path
    full = run_main(["--home", str(filled), "status", "--json"])
    fast_status, full_status = json.loads(fast.stdout), full.json
    assert _without_ages(fast_status) == _without_ages(full_status)
    hosts = {h["id"]: h for h in fast_status["hosts"]}
    assert hosts["box-b"]["this_home"] and not hosts["box-a"]["this_home"]
    assert [x["track"] for x in hosts["box-a"]["tracks"]] == ["core"]
    assert hosts["box-c"]["tracks"][0]["expired"] and not hosts["box-a"]["tracks"][0]["expired"]
    # A damaged host-id is the full CLI's one-line error.
    (filled / "state" / "host-id").write_text("Not A Slug\n")
    damaged = fast_cli(filled, ["status", "--json"])
    assert damaged.returncode == 2 and "invalid host id" in damaged.stderr


@pytest.mark.parametrize(
    "argv",
    [["wo", "list", "--track", "nope", "--json"], ["wo", "list", "--track", "a b", "--json"]],
)
def test_an_unknown_track_is_the_full_clis_one_line_error(filled: Path, argv: list[str]) -> None:
    fast = fast_cli(filled, argv)
    full = run_main(["--home", str(filled), *argv])
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.code, full.out, full.err)
    assert fast.returncode == 2 and len(fast.stderr.splitlines()) == 1


def test_a_home_that_is_not_initialised_is_the_full_clis_error(tmp_path: Path) -> None:
    fast = fast_cli(tmp_path, ["status", "--json"])
    full = run_main(["--home", str(tmp_path), "status", "--json"])
    assert (fast.returncode, fast.stderr) == (full.code, full.err)
    assert fast.returncode == 2 and not list(tmp_path.iterdir())
