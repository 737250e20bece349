"""The track lifecycle through the CLI: every state of the drawing is reachable by a command,
and the holes found in use are closed (resume of a ready track, complete with undone WOs,
nested sub-tracks, failing a track)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.lifecycle import TrackStatus
from tests.conftest import OrchRunner, db_dump, git

pytestmark = pytest.mark.integration


def _status(orch: OrchRunner, track: str) -> str:
    return str(orch.json("track", "show", track)["status"])


def _track(orch: OrchRunner, name: str, *extra: str) -> str:
    orch.ok("track", "create", "--project", "demo", "--name", name, "--type", "feature", *extra)
    return name


def _done_wo(orch: OrchRunner, tmp_path: Path, number: int, status: str = "done") -> str:
    wo_id = f"WO-2026-{number:03d}"
    path = tmp_path / f"{wo_id}.md"
    path.write_text(f"---\nid: {wo_id}\ntitle: Work {number}\nstatus: {status}\n---\nbody\n")
    orch.ok("wo", "import", path)
    return wo_id


def test_every_track_state_is_reachable_by_a_command(orch: OrchRunner, project: str) -> None:
    seen: set[str] = set()

    def step(track: str, *command: str) -> None:
        orch.ok("track", *command, track, *(["--reason", "test"] if command == ("fail",) else []))
        seen.add(_status(orch, track))

    main = _track(orch, "main-line")
    seen.add(_status(orch, main))
    for command in ("ready", "activate", "pause", "resume", "complete", "archive"):
        step(main, command)
    assert _status(orch, main) == "archived"

    ready = _track(orch, "given-up")
    for command in ("ready", "fail", "cancel"):
        step(ready, command)
    assert _status(orch, ready) == "cancelled"

    # An activated track can be given up too: fail pauses it first, then cancel retires it.
    active = _track(orch, "half-way")
    for command in ("ready", "activate", "fail", "cancel"):
        step(active, command)
    assert _status(orch, active) == "cancelled"
    moves = [
        (e["from"], e["to"])
        for e in _track_events(orch.home, active)
        if e["from"] in {"active", "paused"}
    ]
    assert moves == [("active", "paused"), ("paused", "failed")]

    assert seen == {s.value for s in TrackStatus}


def _track_events(home: Path, track: str) -> list[dict[str, str]]:
    import sqlite3

    conn = sqlite3.connect(home / "state" / "orchestrator.db")
    try:
        rows = conn.execute(
            "SELECT from_status, to_status FROM events WHERE kind = 'track_status' "
            "AND subject_id = ? ORDER BY id",
            (track,),
        ).fetchall()
    finally:
        conn.close()
    return [{"from": f, "to": t} for f, t in rows]


def test_fail_needs_a_reason_and_a_legal_state(orch: OrchRunner, project: str) -> None:
    track = _track(orch, "draft-one")
    before = db_dump(orch.home)
    assert "Missing option '--reason'" in orch.fails("track", "fail", track).err
    assert "--reason" in orch.fails("track", "fail", track, "--reason", "  ").err
    assert (
        "cannot go from draft to failed" in orch.fails("track", "fail", track, "--reason", "x").err
    )
    assert db_dump(orch.home) == before


def test_resume_of_a_ready_track_does_not_activate_it(orch: OrchRunner, project: str) -> None:
    track = _track(orch, "offered")
    orch.ok("track", "ready", track)
    before = db_dump(orch.home)
    err = orch.fails("track", "resume", track).err
    assert "is ready, not paused" in err and f"orch track activate {track}" in err
    assert db_dump(orch.home) == before
    assert _status(orch, track) == "ready"


def test_complete_with_undone_work_orders_is_refused(
    orch: OrchRunner, project: str, tmp_path: Path
) -> None:
    track = _track(orch, "unfinished")
    done = _done_wo(orch, tmp_path, 1)
    undone = [orch.ok("wo", "add", "--title", f"todo {n}").out.split()[1][:-1] for n in (1, 2)]
    orch.ok("track", "assign", track, done, *undone)
    orch.ok("track", "ready", track)
    orch.ok("track", "activate", track)
    before = db_dump(orch.home)
    err = orch.fails("track", "complete", track).err
    assert "2 unfinished work orders" in err and undone[0] in err
    assert db_dump(orch.home) == before
    assert _status(orch, track) == "active"


def test_complete_by_hand_merges_the_track_branch(
    orch: OrchRunner, project: str, tmp_path: Path
) -> None:
    track = _track(orch, "finished")
    orch.ok("track", "assign", track, _done_wo(orch, tmp_path, 1))
    orch.ok("track", "ready", track)
    orch.ok("track", "activate", track)
    worktree = Path(orch.json("track", "show", track)["worktree"])
    (worktree / "made-by-hand.txt").write_text("work\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "work on the track")
    out = orch.ok("track", "complete", track).out
    shown = orch.json("track", "show", track)
    assert shown["status"] == "completed" and shown["merged_commit"]
    assert shown["merged_commit"][:7] in out
    repo = Path(orch.json("project", "list")[0]["path"])
    assert git(repo, "rev-parse", "main").strip() == shown["merged_commit"]
    assert git(repo, "show", "main:made-by-hand.txt").strip() == "work"
    # A merge commit, with the track's work as its second parent.
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2


def test_a_sub_track_of_a_sub_track_is_refused(orch: OrchRunner, project: str) -> None:
    _track(orch, "top")
    _track(orch, "middle", "--parent", "top")
    before = db_dump(orch.home)
    err = orch.fails(
        "track",
        "create",
        "--project",
        "demo",
        "--name",
        "deep",
        "--type",
        "feature",
        "--parent",
        "middle",
    ).err
    assert "is itself a sub-track" in err
    assert db_dump(orch.home) == before


def test_a_parent_does_not_complete_by_hand_while_its_sub_tracks_run(
    orch: OrchRunner, project: str, tmp_path: Path
) -> None:
    parent = _track(orch, "parent")
    child = _track(orch, "child", "--parent", parent)
    orch.ok("track", "assign", parent, _done_wo(orch, tmp_path, 1))
    orch.ok("track", "assign", child, _done_wo(orch, tmp_path, 2))
    for track in (parent, child):
        orch.ok("track", "ready", track)
        orch.ok("track", "activate", track)
    before = db_dump(orch.home)
    assert "waits on its sub-tracks child" in orch.fails("track", "complete", parent).err
    assert db_dump(orch.home) == before
    orch.ok("track", "complete", child)
    orch.ok("track", "complete", parent)
    assert _status(orch, parent) == "completed"


def test_retry_refuses_what_is_not_failed_or_an_experiment_holds(
    orch: OrchRunner, project: str
) -> None:
    wo = orch.ok("wo", "add", "--title", "Ranking").out.split()[1].rstrip(":")
    before = db_dump(orch.home)
    assert "is backlog: only failed or blocked" in orch.fails("wo", "retry", wo).err
    assert "one of them" in orch.fails("wo", "retry", wo, "--failed").err
    assert "one of them" in orch.fails("wo", "retry").err
    assert "unknown track" in orch.fails("wo", "retry", "--track", "nope").err
    assert db_dump(orch.home) == before
    assert "No failed or blocked work orders" in orch.ok("wo", "retry", "--failed").out
    # An experiment's original is blocked while its variants carry it: not retried.
    orch.ok(
        "experiment",
        "start",
        "--project",
        "demo",
        "--name",
        "rank",
        "--hypothesis",
        "bm25",
        "--hypothesis",
        "embeddings",
        "--eval",
        "echo 1",
        "--wo",
        wo,
    )
    assert orch.json("wo", "show", wo)["status"] == "blocked"
    before = db_dump(orch.home)
    err = orch.fails("wo", "retry", wo).err
    assert "carried out by the variants of experiment rank" in err
    assert db_dump(orch.home) == before
    assert "No failed or blocked" in orch.ok("wo", "retry", "--track", "rank-a").out
