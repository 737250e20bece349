"""The invariants DESIGN.md promises after any fault, checked on a state home.

No WO lost; no WO done twice; never two live runs of one WO or two workers on one track (from
the events journal); one commit per done WO; every live track's worktree on its branch;
``PRAGMA integrity_check`` ok; ``git fsck`` clean; no orphaned CLI process.

Experiments (``check_experiments``): a merged one has exactly one winner, merged exactly once
(one merge commit naming it, its ADR added once, in that commit), none of the losers'
commits on the base branch, losers cancelled with their branches and snapshot refs kept
and their worktrees gone, its original WOs done once pointing at the merge; a failed or
cancelled one merged nothing; every evaluation run recorded once per attempt.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import psutil

from orchestrator.agents.processes import find_agent_processes
from orchestrator.config import load_settings

TERMINAL_RUN_STATUSES = {"succeeded", "failed", "interrupted", "resumed"}


def _rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, params))


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
    originals = experiment_originals(db)
    for wo_id, status in statuses.items():
        if status == "done" and wo_id in originals:
            # Done by an experiment's winner: its record is the merge, not a commit of its own.
            assert commits[wo_id] == 0, f"{wo_id} (an experiment's original) has commits"
        elif status == "done":
            assert commits[wo_id] == 1, f"{wo_id} has {commits[wo_id]} commits"
    experiments = check_experiments(db, expect_final=expect_all_done)

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
    assert not orphans, f"orphaned agent processes: {[(p.pid, _cmdline(p)) for p in orphans]}"
    return {
        "experiments": experiments,
        "work_orders": len(statuses),
        "done_events": sum(done_events.values()),
        "events": json.dumps(dict(Counter(s for s in statuses.values()))),
    }


def _git(path: object, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=str(path), capture_output=True, text=True, check=True
    ).stdout


def experiment_originals(db: Path) -> set[str]:
    return {
        str(r[0]) for r in _rows(db, "SELECT wo_id FROM experiment_wos WHERE role = 'original'")
    }


def check_experiments(db: Path, expect_final: bool = True) -> dict[str, str]:
    """Assert the experiment invariants; returns each experiment's status."""
    result: dict[str, str] = {}
    experiments = _rows(
        db,
        "SELECT e.id, e.status, e.winner_track_id, e.merge_commit, e.adr_path, e.base_branch, "
        "e.eval_runs, p.path FROM experiments e JOIN projects p ON p.id = e.project_id",
    )
    eval_events = Counter(
        (str(r[0]), json.loads(str(r[1]))["attempt"], json.loads(str(r[1]))["index"])
        for r in _rows(db, "SELECT subject_id, data FROM events WHERE kind = 'eval_run'")
    )
    for track, attempt, index in _rows(db, "SELECT track_id, attempt, run_index FROM eval_runs"):
        # Recorded once per attempt: one row (the DB's unique key) and one journal entry.
        assert eval_events[(str(track), attempt, index)] == 1, (track, attempt, index)
    assert sum(eval_events.values()) == len(_rows(db, "SELECT id FROM eval_runs"))
    for exp_id, status, winner, merge, adr, base, eval_runs, repo in experiments:
        result[str(exp_id)] = str(status)
        if expect_final:
            assert status in ("merged", "failed", "cancelled"), (exp_id, status)
        variants = dict(
            _rows(
                db,
                "SELECT track_id, status FROM experiment_variants WHERE experiment_id = ?",
                (exp_id,),
            )
        )
        tracks = {
            str(r[0]): (r[1], r[2])
            for r in _rows(
                db,
                "SELECT id, status, worktree_path FROM tracks WHERE id IN ("
                + ",".join("?" for _ in variants)
                + ")",
                tuple(variants),
            )
        }
        to_merged = _rows(
            db,
            "SELECT id FROM events WHERE kind = 'experiment_status' "
            "AND subject_id = ? AND to_status = 'merged'",
            (exp_id,),
        )
        trailer = f"Orchestrator-Experiment: {exp_id}"
        merges = [
            line.split()
            for line in _git(repo, "log", "--merges", "--format=%H %P%x00%B%x01", str(base)).split(
                "\x01"
            )
            if trailer in line
        ]
        base_commits = set(_git(repo, "rev-list", str(base)).split())
        if status != "merged":
            assert not merges, f"{exp_id} is {status} but was merged"
            assert not to_merged
            continue
        assert len(to_merged) == 1, f"{exp_id} merged {len(to_merged)} times in the journal"
        assert len(merges) == 1, f"{exp_id} has {len(merges)} merge commits"
        merge_sha, _first, second = merges[0][0], merges[0][1], merges[0][2].split("\x00")[0]
        assert merge_sha == merge
        assert winner in variants and variants[winner] == "merged"
        assert second == _git(repo, "rev-parse", f"tracks/{winner}").strip()
        assert tracks[str(winner)][0] == "completed"
        assert adr, f"{exp_id} merged without an ADR"
        added = _git(
            repo,
            "log",
            "--first-parent",
            "-m",
            "--diff-filter=A",
            "--format=%H",
            str(base),
            "--",
            str(adr),
        )
        assert added.split() == [merge], f"{exp_id}: ADR added by {added.split()}"
        for track, variant_status in variants.items():
            if track == winner:
                continue
            assert variant_status == "cancelled", (track, variant_status)
            assert tracks[track] == ("cancelled", None), (track, tracks[track])
            tip = _git(repo, "rev-parse", f"tracks/{track}").strip()
            assert tip not in base_commits, f"loser {track}'s commits are on {base}"
            _git(repo, "rev-parse", "--verify", f"refs/orchestrator/checkpoints/{track}/0")
        for (wo_id,) in _rows(
            db,
            "SELECT wo_id FROM experiment_wos WHERE experiment_id = ? AND role = 'original'",
            (exp_id,),
        ):
            (wo_status, done_commit) = _rows(
                db,
                "SELECT status, done_commit FROM work_orders WHERE id = ?",
                (wo_id,),
            )[0]
            assert (wo_status, done_commit) == ("done", merge), (wo_id, wo_status)
        # The winner's score came from exactly eval_runs runs of one attempt.
        scored = _rows(
            db,
            "SELECT COUNT(*) FROM eval_runs r JOIN experiment_variants v "
            "ON v.track_id = r.track_id AND v.eval_attempt = r.attempt "
            "WHERE r.track_id = ? AND r.score IS NOT NULL",
            (winner,),
        )
        assert scored[0][0] == eval_runs, (winner, scored)
    return result


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:200]
    except psutil.Error:
        return "?"
