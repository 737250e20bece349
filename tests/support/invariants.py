"""The invariants DESIGN.md promises after any fault, checked on a state home.

No WO lost; no WO done twice; never two live runs of one WO or two workers on one track (from
the events journal); one commit per done WO; every live track's worktree on its branch;
``PRAGMA integrity_check`` ok; ``git fsck`` clean; no orphaned CLI process.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from orchestrator.agents.processes import find_agent_processes
from orchestrator.config import load_settings

TERMINAL_RUN_STATUSES = {"succeeded", "failed", "interrupted", "resumed"}


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def check_invariants(home: Path, expect_all_done: bool = True) -> dict[str, object]:
    """Assert every invariant; returns a few figures for the test's own messages."""
    settings = load_settings(home)
    db = settings.db_path
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]

    statuses = dict(_rows(db, "SELECT id, status FROM work_orders"))
    if expect_all_done:
        assert set(statuses.values()) == {"done"}, Counter(statuses.values())
    assert not [w for w, s in statuses.items() if s == "running"], "WO left running"
    assert not _rows(db, "SELECT id FROM agent_runs WHERE status IN ('running', 'parked')")

    # Exactly one transition to done per WO, from the journal.
    done_events = Counter(
        str(r[0])
        for r in _rows(
            db, "SELECT subject_id FROM events WHERE kind='wo_status' AND to_status='done'"
        )
    )
    twice = {w: n for w, n in done_events.items() if n > 1}
    assert not twice, f"WOs done more than once: {twice}"
    for wo_id, status in statuses.items():
        assert done_events.get(wo_id, 0) == (1 if status == "done" else 0), wo_id

    # Never two live runs of one WO, nor two live workers on one track.
    run_wo = {
        str(r[0]): (r[1], r[2], r[3])
        for r in _rows(db, "SELECT id, wo_id, track_id, role FROM agent_runs")
    }
    live_by_wo: dict[str, set[str]] = defaultdict(set)
    live_by_track: dict[str, set[str]] = defaultdict(set)
    for kind, subject, to_status in _rows(
        db,
        "SELECT kind, subject_id, to_status FROM events "
        "WHERE kind IN ('run_started', 'run_status') ORDER BY id",
    ):
        run_id = str(subject)
        wo_id, track_id, role = run_wo[run_id]
        if kind == "run_started" and wo_id:
            assert not live_by_wo[str(wo_id)], (
                f"{wo_id}: {run_id} started beside {live_by_wo[str(wo_id)]}"
            )
            live_by_wo[str(wo_id)].add(run_id)
            if role == "worker":
                assert not live_by_track[str(track_id)], f"two workers on {track_id}"
                live_by_track[str(track_id)].add(run_id)
        elif kind == "run_status" and to_status in TERMINAL_RUN_STATUSES:
            live_by_wo[str(wo_id)].discard(run_id)
            live_by_track[str(track_id)].discard(run_id)

    # One commit per done WO, found by its trailer, across every branch of every project.
    commits: Counter[str] = Counter()
    for (path,) in _rows(db, "SELECT path FROM projects"):
        log = subprocess.run(
            ["git", "log", "--all", "--format=%H%x00%B%x01"],
            cwd=str(path),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for entry in log.split("\x01"):
            for line in entry.splitlines():
                if line.startswith("Orchestrator-WO: "):
                    commits[line.split(": ", 1)[1].strip()] += 1
        fsck = subprocess.run(
            ["git", "fsck", "--no-progress"], cwd=str(path), capture_output=True, text=True
        )
        assert fsck.returncode == 0, fsck.stderr
    for wo_id, status in statuses.items():
        if status == "done":
            assert commits[wo_id] == 1, f"{wo_id} has {commits[wo_id]} commits"

    # Live tracks' worktrees are on their branches.
    for track_id, branch, worktree, status in _rows(
        db, "SELECT id, branch, worktree_path, status FROM tracks"
    ):
        if status in ("active", "paused") and worktree:
            head = subprocess.run(
                ["git", "symbolic-ref", "--short", "HEAD"],
                cwd=str(worktree),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert head == branch, (track_id, head, branch)

    orphans = find_agent_processes(settings.owner_id)
    assert not orphans, f"orphaned agent processes: {[p.pid for p in orphans]}"
    return {
        "work_orders": len(statuses),
        "done_events": sum(done_events.values()),
        "events": json.dumps(dict(Counter(s for s in statuses.values()))),
    }
