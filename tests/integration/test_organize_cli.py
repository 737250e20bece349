"""`orch organize` and `orch review` through the real CLI, the bundled Claude Code CLI and the
simulator: initial organization of the sample backlog, review, approval, the automatic
incremental run after 10 new WOs, stale proposals, and the tree views."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES_DIR, OrchRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SIM = ("--model-backend", "sim")


def events(home: Path, kind: str) -> list[tuple[str, str]]:
    conn = sqlite3.connect(home / "state" / "orchestrator.db")
    try:
        rows = conn.execute(
            "SELECT subject_id, to_status FROM events WHERE kind = ? ORDER BY id", (kind,)
        )
        return [(str(s), str(t)) for s, t in rows]
    finally:
        conn.close()


def only_pending(orch: OrchRunner) -> dict[str, Any]:
    pending = [p for p in orch.json("review", "list") if p["status"] == "pending"]
    assert len(pending) == 1, pending
    return dict(pending[0])


def top_level(tracks: list[dict[str, Any]]) -> list[str]:
    return [t["id"] for t in tracks if t["parent"] is None]


def test_initial_review_approve_then_automatic_incremental(
    orch: OrchRunner, project: str, home: Path
) -> None:
    orch.ok("wo", "import", SAMPLES_DIR)
    wo_ids = {w["id"] for w in orch.json("wo", "list")}
    assert len(wo_ids) == 20

    out = orch.ok("organize", *SIM).out
    pending = only_pending(orch)
    assert pending["mode"] == "initial" and pending["project"] == project
    assert f"Proposal {pending['id']}" in out

    shown = orch.json("review", "show", str(pending["id"]))
    diff = shown["diff"]
    added = diff["tracks_added"]
    assert 1 <= len([t for t in added if t["parent"] is None]) <= 8
    assert diff["work_orders"] == {
        "assigned": 20,
        "moved": 0,
        "unchanged": 0,
        "still_unassigned": 0,
    }
    assert sum(t["in"] for t in diff["per_track"].values()) >= 20
    text = orch.ok("review", "show", str(pending["id"])).out
    assert "Tracks:" in text and "+ " in text and "20 newly assigned" in text
    # Nothing is applied before the review.
    assert orch.json("track", "list") == []

    orch.ok("review", "approve", str(pending["id"]))
    tracks = orch.json("track", "list")
    assert 1 <= len(top_level(tracks)) <= 8
    assert {t["status"] for t in tracks} == {"draft"}
    wos = orch.json("wo", "list")
    assert all(w["tracks"] for w in wos), [w["id"] for w in wos if not w["tracks"]]
    assert sum(t["wo_count"] for t in tracks) >= 20
    assert events(home, "proposal_approved") == [(str(pending["id"]), "approved")]
    assert len(events(home, "track_created")) == len(tracks)
    # Approving twice is refused.
    assert "already approved" in orch.fails("review", "approve", str(pending["id"])).err

    # 10 new WOs: the daemon runs the organizer on its own, in incremental mode.
    for n in range(9):
        orch.ok("wo", "add", "--title", f"Runner extra {n}", "--tag", "runner")
    orch.ok("wo", "add", "--title", "Billing export", "--tag", "billing")
    new = {w["id"] for w in orch.json("wo", "list")} - wo_ids
    assert len(new) == 10
    orch.ok("run", *SIM, "--exit-when-idle")
    incremental = only_pending(orch)
    assert incremental["mode"] == "incremental"
    shown = orch.json("review", "show", str(incremental["id"]))
    assert shown["trigger"] == "auto"
    assert shown["diff"]["work_orders"]["assigned"] == 10
    assert shown["diff"]["moves"] == []
    stored = _stored_assignments(home, int(incremental["id"]))
    assert stored == new

    # The sample backlog fills 8 lanes: billing becomes a sub-track, shown as a tree.
    orch.ok("review", "approve", str(incremental["id"]))
    tracks = orch.json("track", "list")
    assert len(top_level(tracks)) <= 8
    (billing,) = [t for t in tracks if t["name"] == "billing"]
    parent = billing["parent"]
    assert parent is not None and billing["wo_count"] == 1
    tree = orch.ok("wo", "list", "--track", parent).out
    assert f"\n  {billing['id']}  [draft]  0/1 done (0%)" in tree
    listed = {w["id"] for w in orch.json("wo", "list", "--track", parent)}
    billing_wo = {w["id"] for w in orch.json("wo", "list", "--track", billing["id"])}
    assert billing_wo < listed
    assert f"  {billing['id']}" in orch.ok("track", "list").out


def _stored_assignments(home: Path, proposal_id: int) -> set[str]:
    import json

    conn = sqlite3.connect(home / "state" / "orchestrator.db")
    try:
        (raw,) = conn.execute(
            "SELECT proposal FROM track_proposals WHERE id = ?", (proposal_id,)
        ).fetchone()
    finally:
        conn.close()
    return {a["wo_id"] for a in json.loads(raw)["assignments"]}


def test_a_wo_added_after_the_proposal_makes_it_stale(
    orch: OrchRunner, project: str, home: Path
) -> None:
    orch.ok("wo", "import", SAMPLES_DIR)
    orch.ok("organize", "--project", project, "--mode", "initial", *SIM)
    pending = only_pending(orch)
    orch.ok("wo", "add", "--title", "Late arrival", "--tag", "runner")

    (row,) = orch.json("review", "list")
    assert row["status"] == "stale"
    failed = orch.fails("review", "approve", str(row["id"]))
    assert "stale" in failed.err and "orch organize" in failed.err
    assert "STALE" in orch.ok("review", "show", str(row["id"])).out
    assert orch.json("track", "list") == []

    orch.ok("review", "reject", str(pending["id"]), "--reason", "outdated")
    assert orch.json("review", "list", "--status", "rejected")[0]["id"] == pending["id"]
    assert events(home, "proposal_rejected") == [(str(pending["id"]), "rejected")]


def test_auto_apply_places_new_wos_in_existing_tracks_unreviewed(
    orch: OrchRunner, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_ORGANIZER_AUTO_APPLY_INCREMENTAL", "true")
    for name in ("runner", "auth"):
        orch.ok("track", "create", "--project", project, "--name", name, "--type", "feature")
    for n in range(10):
        tag = "runner" if n % 2 else "auth"
        orch.ok("wo", "add", "--title", f"{tag} task {n}", "--tag", tag)
    orch.ok("run", *SIM, "--exit-when-idle")
    (proposal,) = orch.json("review", "list")
    assert (proposal["mode"], proposal["status"]) == ("incremental", "approved")
    counts = {t["id"]: t["wo_count"] for t in orch.json("track", "list")}
    assert counts == {"auth": 5, "runner": 5}


def test_organize_errors_are_one_line(orch: OrchRunner, project: str) -> None:
    assert "unknown organize mode" in orch.fails("organize", "--mode", "sideways").err
    assert "unknown project" in orch.fails("organize", "--project", "nope").err
    assert "unknown proposal 42" in orch.fails("review", "show", "42").err
    assert "unknown proposal status" in orch.fails("review", "list", "--status", "x").err
    out = orch.ok("organize", *SIM).out
    assert "Nothing to organize" in out


def test_a_reimport_changing_title_priority_or_tags_makes_it_stale(
    orch: OrchRunner, project: str, home: Path, tmp_path: Path
) -> None:
    """The organizer grouped the WOs by these fields: a re-import that changes one makes the
    proposal stale, and approving it then is refused without writing anything."""
    from tests.conftest import db_dump

    orch.ok("wo", "import", SAMPLES_DIR)
    orch.ok("organize", "--project", project, "--mode", "initial", *SIM)
    pending = only_pending(orch)
    sample = SAMPLES_DIR / "WO-2026-001_runner-sandbox-process-isolation.md"
    original = sample.read_text()
    changed = tmp_path / sample.name
    for old, new in (
        ("title: Runner sandbox process isolation", "title: Runner isolation, renamed"),
        ("priority: 1", "priority: 4"),
        ("  - security\n", "  - jail\n"),
    ):
        assert old in original
        changed.write_text(original.replace(old, new))
        orch.ok("wo", "import", changed)
        before = db_dump(home)
        failed = orch.fails("review", "approve", str(pending["id"]))
        assert "stale" in failed.err, old
        assert db_dump(home) == before, f"a refused approval wrote to the DB ({old})"
        changed.write_text(original)
        orch.ok("wo", "import", changed)
    # Back as it was: the proposal is current again, and applies.
    orch.ok("review", "approve", str(pending["id"]))
    assert orch.json("track", "list") != []
