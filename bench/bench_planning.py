"""Benchmark of the dispatch loop's planning query, ``track_work`` (a script, not a test).

Builds state DBs with 1,000 / 10,000 / 50,000 WOs over 10 projects and 80 active tracks (the
status mix of ``bench_store.py``: 8 in 14 WOs backlog or ready, 3 in 14 done; 30% depend on an
earlier WO), one worker run per WO that has been worked on and three journal rows per WO,
then times ``SQLiteStore.track_work()`` in-process (median of ``--runs`` calls after one
warm-up). Target: under 50 ms per call at 50,000 WOs.

Two more homes show what the cost grows with: ``+finished`` adds 40,000 done WOs (with their
runs and events) to the 10,000 home, ``+runs`` adds 200,000 runs and events to it. Neither
should move the figure: planning reads the unfinished WOs only.

Usage::

    .venv/bin/python bench/bench_planning.py [--sizes 1000,10000,50000] [--runs 9] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from orchestrator.store.planning import STARTABLE_SHOWN
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import (
    AgentRunRow,
    EventRow,
    ProjectRow,
    TrackRow,
    WODependencyRow,
    WorkOrderRow,
    WOTrackRow,
)

N_PROJECTS = 10
N_TRACKS = 80
TARGET_MS_AT_50K = 50.0
WO_STATUSES = ["backlog"] * 6 + ["ready"] * 2 + ["done"] * 3 + ["failed", "blocked", "cancelled"]
TAGS = ["api", "ui", "db", "perf", "security", "docs", "infra", "search"]


@dataclass(frozen=True)
class Home:
    label: str
    wos: int
    done: int
    runs: int
    events: int


def table(row_type: Any) -> Any:
    return row_type.__table__


def build(db: Path, n_wos: int, *, extra_done: int = 0, extra_runs: int = 0) -> Home:
    """A state DB: projects, 80 active tracks, ``n_wos`` mixed WOs plus ``extra_done`` done
    ones, their dependencies, links, runs and events, inserted in bulk."""
    rng = random.Random(n_wos + extra_done + extra_runs)
    store = SQLiteStore.open(db)
    now = datetime.now(UTC)
    projects = [f"p{p}" for p in range(N_PROJECTS)]
    tracks_of = {p: [f"{p}-t{t}" for t in range(N_TRACKS // N_PROJECTS)] for p in projects}
    wos: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    total = n_wos + extra_done
    for n in range(1, total + 1):
        wo_id = f"WO-2025-{n:05d}"
        project = projects[(n - 1) % N_PROJECTS]
        status = rng.choice(WO_STATUSES) if n <= n_wos else "done"
        wos.append(
            {
                "id": wo_id,
                "project_id": project,
                "title": f"Work order {n}: do something useful",
                "goal": f"Goal of work order {n}",
                "context": ["context line"],
                "acceptance_criteria": ["It works"],
                "non_goals": [],
                "priority": rng.randint(1, 5),
                "tags": rng.sample(TAGS, 2),
                "status": status,
                "body": "Some notes. " * 20,
                "extra": {},
                "source": "import",
                "attempts": 0,
                "inserted_at": now,
                "changed_at": now,
            }
        )
        if n > 2 * N_PROJECTS and n <= n_wos and rng.random() < 0.3:
            deps.append({"wo_id": wo_id, "depends_on_id": f"WO-2025-{n - N_PROJECTS:05d}"})
        track_ids = tracks_of[project]
        track = track_ids[(n // N_PROJECTS) % len(track_ids)]
        links.append({"wo_id": wo_id, "track_id": track})
        if rng.random() < 0.2:
            second = rng.choice(track_ids)
            if second != track:
                links.append({"wo_id": wo_id, "track_id": second})
        if status not in ("backlog", "ready"):
            runs.append(_run(f"run-{n:07d}", project, track, wo_id, now))
        for kind in ("wo_created", "wo_status", "wo_status"):
            events.append(_event(kind, wo_id, now))
    for n in range(extra_runs):
        project = projects[n % N_PROJECTS]
        track = tracks_of[project][n % len(tracks_of[project])]
        runs.append(_run(f"run-x{n:07d}", project, track, None, now))
        events.append(_event("run_status", f"run-x{n:07d}", now))
    with store.engine.begin() as conn:
        conn.execute(
            insert(table(ProjectRow)),
            [{"id": p, "path": f"/bench/{p}", "base_branch": "main"} for p in projects],
        )
        conn.execute(
            insert(table(TrackRow)),
            [
                {
                    "id": t,
                    "project_id": p,
                    "name": t,
                    "status": "active",
                    "branch": f"tracks/{t}",
                    "scope": [],
                    "wo_queue": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for p in projects
                for t in tracks_of[p]
            ],
        )
        for row_type, rows in (
            (WorkOrderRow, wos),
            (WODependencyRow, deps),
            (WOTrackRow, links),
            (AgentRunRow, runs),
            (EventRow, events),
        ):
            conn.execute(insert(table(row_type)), rows)
        conn.exec_driver_sql("ANALYZE")
    store.close()
    done = sum(1 for w in wos if w["status"] == "done")
    return Home("", total, done, len(runs), len(events))


def _run(run_id: str, project: str, track: str, wo_id: str | None, now: datetime) -> dict[str, Any]:
    return {
        "id": run_id,
        "role": "worker",
        "project_id": project,
        "track_id": track,
        "wo_id": wo_id,
        "status": "succeeded",
        "cost_usd": 0.01,
        "started_at": now,
        "ended_at": now,
    }


def _event(kind: str, subject: str, now: datetime) -> dict[str, Any]:
    return {"at": now, "kind": kind, "subject_type": "work_order", "subject_id": subject,
            "data": {}}  # fmt: skip


def median_ms(call: Any, runs: int) -> tuple[float, float, float, float]:
    """Median, min and max wall time and median CPU time of ``runs`` calls (after one
    warm-up), in ms. CPU time moves less than wall time on a shared machine."""
    call()
    times, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(times), min(times), max(times), statistics.median(cpus)


def time_home(db: Path, runs: int) -> dict[str, Any]:
    """The dispatch loop's call (every active track, is anything startable?) and a track
    step's (one track, the first STARTABLE_SHOWN for its project agent)."""
    store = SQLiteStore.open(db, migrate=False)
    try:
        work = store.track_work()
        busiest = max(work, key=lambda w: (w.unfinished, w.track.id)).track.id
        with store.engine.connect() as conn:
            startable = conn.exec_driver_sql(
                "SELECT count(*) FROM wo_tracks WHERE wo_status IN ('backlog', 'ready')"
            ).scalar()
        return {
            "startable": startable,
            "unfinished": sum(w.unfinished for w in work),
            "loop": median_ms(store.track_work, runs),
            "step": median_ms(
                lambda: store.track_work(shown=STARTABLE_SHOWN, track_id=busiest), runs
            ),
        }
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="WO counts, comma separated.")
    parser.add_argument("--runs", type=int, default=9, help="Timed calls per home.")
    parser.add_argument("--dir", type=Path, help="Work directory (default: a temporary one).")
    parser.add_argument("--no-extra", action="store_true", help="Skip the +finished/+runs homes.")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    root = args.dir or Path(tempfile.mkdtemp(prefix="orch-bench-planning-"))
    root.mkdir(parents=True, exist_ok=True)
    plans: list[tuple[str, int, int, int]] = [(f"{n:,} WOs", n, 0, 0) for n in sizes]
    if not args.no_extra:
        plans += [("10,000 +40,000 done", 10_000, 40_000, 0), ("10,000 +200,000 runs",
                  10_000, 0, 200_000)]  # fmt: skip
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load[0]:.2f}"
    )
    header = (
        f"{'home (80 active tracks)':<22} {'startable':>9} {'unfinished':>10} {'runs':>7} "
        f"{'events':>7} {'loop call':>10} {'min':>7} {'max':>7} {'cpu':>7} {'step call':>10}"
    )
    print(header)
    print("-" * len(header))
    missed = False
    for label, n, extra_done, extra_runs in plans:
        db = root / f"{label.replace(' ', '_').replace(',', '').replace('+', 'x')}.db"
        db.unlink(missing_ok=True)
        home = build(db, n, extra_done=extra_done, extra_runs=extra_runs)
        timed = time_home(db, args.runs)
        loop, low, high, cpu = timed["loop"]
        if n >= 50_000:
            missed |= loop > TARGET_MS_AT_50K
        print(
            f"{label:<22} {timed['startable']:>9} {timed['unfinished']:>10} {home.runs:>7} "
            f"{home.events:>7} {loop:8.1f}ms {low:5.1f}ms {high:5.1f}ms {cpu:5.1f}ms "
            f"{timed['step'][0]:8.1f}ms",
            flush=True,
        )
    print(
        "\nloop call: track_work() over every active track (is anything startable, counts,"
        " cost),\nas the dispatch loop makes it; step call: one track with its first"
        f" {STARTABLE_SHOWN} startable WOs\n(what a project agent chooses from)."
    )
    print(f"target: loop call under {TARGET_MS_AT_50K:.0f} ms at 50,000 WOs: "
          + ("MISSED" if missed else "ok"))  # fmt: skip
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
