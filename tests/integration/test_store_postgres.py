"""The store on PostgreSQL: racing claims, the CLI's reads, and the daemon, on a real server.

Each test gets a fresh database (``tests.support.postgres``); without a server they skip
(or fail under ``ORCH_REQUIRE_POSTGRES=1``, as on CI).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text
from sqlmodel import select

from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.runner import run_daemon
from orchestrator.domain.errors import IllegalTransitionError
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.sim import SimServer
from orchestrator.store.claims import ClaimConflictError
from orchestrator.store.sqlite_store import SQLiteStore, open_store
from orchestrator.store.tables import AgentRunRow
from tests.conftest import OrchRunner
from tests.integration.daemon_kit import by_role, open_home, replace_settings, run_fake
from tests.integration.test_daemon_sim import sim, sim_backend  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TRACKS, WOS_PER_TRACK, CLAIMERS = 12, 4, 8


def _backlog(store: SQLiteStore) -> dict[str, str]:
    """TRACKS tracks of WOS_PER_TRACK new WOs each: WO id -> its track."""
    store.add_project("p", "/nonexistent/p", "main", "")
    track_of = {}
    for t in range(TRACKS):
        name = f"t{t}"
        store.create_track("p", name, "feature")
        ids = [
            store.add_work_order("p", WorkOrder(id="", title=f"{name} wo {n}")).id
            for n in range(WOS_PER_TRACK)
        ]
        store.assign(name, ids)
        track_of.update(dict.fromkeys(ids, name))
    return track_of


def test_racing_claimers_start_one_worker_per_track_and_never_a_wo_twice(pg_url: str) -> None:
    """CLAIMERS threads, each with its own engine (as daemons on several hosts would be),
    try to claim every WO at once. The claim's invariants hold on PostgreSQL as on
    SQLite: a WO has at most one live run, a track at most one live worker."""
    setup = open_store(pg_url)
    track_of = _backlog(setup)
    won: list[list[str]] = [[] for _ in range(CLAIMERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)

    def claimer(n: int) -> None:
        store = open_store(pg_url, migrate=False)
        order = list(track_of)
        random.Random(n).shuffle(order)  # different orders: tracks and WOs both contended
        try:
            start.wait(timeout=60)
            for wo_id in order:
                try:
                    store.claim_work_order(wo_id, track_of[wo_id], f"daemon-{n}")
                except (ClaimConflictError, IllegalTransitionError):
                    continue  # lost the race: someone else holds the WO or the track
                won[n].append(wo_id)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    claimed = [wo for mine in won for wo in mine]
    with setup.reading() as session:
        runs = list(session.exec(select(AgentRunRow)))
    per_wo = Counter(r.wo_id for r in runs)
    per_track = Counter(r.track_id for r in runs)
    assert len(claimed) == len(set(claimed)), Counter(claimed).most_common(3)
    assert all(n == 1 for n in per_wo.values()), per_wo.most_common(3)
    assert set(per_track.values()) == {1}, per_track.most_common(3)
    assert len(per_track) == TRACKS  # every track got its one worker
    assert sorted(claimed) == sorted(per_wo)
    statuses = {w["id"]: w["status"] for w in setup.list_work_orders()}
    assert {statuses[w] for w in claimed} == {WOStatus.RUNNING.value}
    assert setup.integrity_ok()
    setup.close()


def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait (bounded) for ``condition``, polling."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _lock_waiters(store: SQLiteStore) -> int:
    with store.reading() as session:
        return int(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_a_status_change_waits_for_a_racing_one_and_sees_it(pg_url: str) -> None:
    """READ COMMITTED alone would let both of two changes of one WO's status check the
    status they read before either wrote: a WO settled done could then be requeued. The
    WO's row is locked by the first; the second waits, then sees ``done`` and is refused."""
    store = open_store(pg_url)
    other = open_store(pg_url, migrate=False)
    track_of = _backlog(store)
    wo_id = next(iter(track_of))
    store.claim_work_order(wo_id, track_of[wo_id], "daemon-a")
    holding, release = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}

    def settle() -> None:
        with store.writing() as session:
            store.set_wo_status(wo_id, WOStatus.DONE, reason="settled", session=session)
            holding.set()
            release.wait(timeout=60)

    def requeue() -> None:
        try:
            other.set_wo_status(wo_id, WOStatus.READY, reason="requeued")
            outcome["requeue"] = "moved"
        except IllegalTransitionError as exc:
            outcome["requeue"] = str(exc)

    first = threading.Thread(target=settle)
    first.start()
    assert holding.wait(timeout=60)
    second = threading.Thread(target=requeue)
    second.start()
    _until(lambda: _lock_waiters(other) > 0 or "requeue" in outcome)
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert "cannot go from done to ready" in outcome["requeue"]
    assert {w["id"]: w["status"] for w in store.list_work_orders()}[wo_id] == "done"
    store.close()
    other.close()


def test_cli_reads_take_the_full_path(
    pg_url: str,
    orch: OrchRunner,
    home_dir: Path,
    make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the state in PostgreSQL the read commands (which have a SQLite-only fast path)
    answer through the store, and the home holds no SQLite file."""
    monkeypatch.setenv("ORCH_STORE_URL", pg_url.replace("postgres@", "postgres:pw-123456@"))
    orch.ok("init")
    repo = make_repo("demo")
    orch.ok("project", "add", repo)
    orch.ok("wo", "add", "--project", "demo", "--title", "first", "--tag", "x")
    orch.ok("wo", "add", "--project", "demo", "--title", "second", "--depends-on", "WO-2026-001")
    orch.ok("track", "create", "--project", "demo", "--name", "core", "--type", "feature")
    orch.ok("track", "assign", "core", "WO-2026-001", "WO-2026-002")
    tracks = orch.json("track", "list", "--json")
    assert [(t["id"], t["wo_count"], t["done_count"]) for t in tracks] == [("core", 2, 0)]
    listed = orch.json("wo", "list", "--track", "core", "--json")
    assert [(w["id"], w["tags"], w["depends_on"]) for w in listed] == [
        ("WO-2026-001", ["x"], []),
        ("WO-2026-002", [], ["WO-2026-001"]),
    ]
    status = orch.json("status", "--json")
    assert status["projects"][0]["work_orders"] == {"backlog": 2}
    text = orch.ok("status").out
    assert "store: postgresql+psycopg://postgres:***@127.0.0.1:5432/" in text
    assert "pw-123456" not in text
    assert not (home_dir / "state" / "orchestrator.db").exists()


async def test_daemon_runs_fake_agents_on_postgres(pg_url: str, home: Path, tmp_path: Path) -> None:
    """The real daemon (claims, planning, worktrees, checks, merges) with its state in
    PostgreSQL: more slots than tracks, still one worker per track, every WO done."""
    h = open_home(home, store_url=pg_url)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "a", 3)
    h.add_track("p", "b", 3)
    report, _ = await run_fake(h, by_role(), RunOptions(max_agents=4, exit_when_idle=True))
    assert report.summary["work_orders"]["done"] == 6
    assert set(h.wo_statuses().values()) == {"done"}
    per_track: dict[str, list[AgentRunRow]] = {}
    for run in h.runs("worker"):
        per_track.setdefault(str(run.track_id), []).append(run)
    for runs in per_track.values():
        for before, after in itertools.pairwise(runs):
            assert before.ended_at is not None and before.ended_at <= after.started_at
    h.assert_nothing_live()
    h.store.close()


@pytest.mark.timeout(600)
async def test_daemon_runs_the_simulator_on_postgres(
    pg_url: str,
    home: Path,
    tmp_path: Path,
    sim: SimServer,  # noqa: F811
) -> None:
    """The real Claude Code CLI against the simulator, state and transcripts in PostgreSQL."""
    h = open_home(home, store_url=pg_url)
    replace_settings(h, "model", backend="sim")
    h.add_project("alpha", tmp_path / "alpha")
    h.add_track("alpha", "a-core", ["Alpha parser", "Alpha printer"])
    with anyio.fail_after(540):
        report = await run_daemon(
            h.settings,
            h.store,
            RunOptions(max_agents=2, exit_when_idle=True),
            backend=sim_backend(h, sim),
        )
    assert report.summary["work_orders"]["done"] == 2, report.path.read_text()
    assert sim.errors() == []
    workers = h.runs("worker")
    assert workers and all(r.session_id for r in workers)
    # The transcripts were mirrored into PostgreSQL's session store.
    assert all(h.store.session_entries(str(r.session_id)) for r in workers)
    h.assert_nothing_live()
    h.store.close()
