"""The organizer through the runtime with scripted agents (FakeRuntime) on the real store.

Bad proposals come back to the agent as errors it can act on; a corrected attempt is stored
for review, never applied; the daemon triggers the organizer after N new WOs and, with
``auto_apply_incremental``, applies proposals that only place WOs in existing tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.agents.fake_runtime import CallTool, Finish, Step
from orchestrator.agents.protocol import SessionSpec
from orchestrator.daemon.organizer import OrganizeOutcome
from orchestrator.daemon.runner import run_organize
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.organization import OrganizeMode
from orchestrator.domain.roles import Role
from tests.integration.daemon_kit import (
    Home,
    fake_backend,
    open_home,
    payload_of,
    replace_settings,
    run_fake,
)

pytestmark = pytest.mark.integration


def add_wos(h: Home, project: str, count: int, tag: str = "api") -> list[str]:
    return [
        h.store.add_work_order(project, WorkOrder(id="", title=f"{tag} {n}", tags=(tag,))).id
        for n in range(count)
    ]


def project_with_wos(h: Home, tmp_path: Path, count: int = 4) -> list[str]:
    h.add_project("demo", tmp_path / "demo")
    return add_wos(h, "demo", count)


def good_proposal(ids: list[str]) -> dict[str, Any]:
    return {
        "tracks": [{"key": "api", "name": "api", "goal": "The API", "type": "feature"}],
        "assignments": [{"wo_id": w, "tracks": ["api"]} for w in ids],
        "recommendations": ["one track is enough for now"],
    }


def nine_top_level(ids: list[str]) -> dict[str, Any]:
    tracks = [{"key": f"t{n}", "name": f"t{n}", "goal": "g"} for n in range(9)]
    return {"tracks": tracks, "assignments": [{"wo_id": w, "tracks": ["t0"]} for w in ids]}


def unknown_wo(ids: list[str]) -> dict[str, Any]:
    proposal = good_proposal(ids)
    proposal["assignments"].append({"wo_id": "WO-1999-001", "tracks": ["api"]})
    return proposal


def cycle(ids: list[str]) -> dict[str, Any]:
    return {
        "tracks": [
            {"key": "a", "name": "a", "goal": "g", "parent": "b"},
            {"key": "b", "name": "b", "goal": "g", "parent": "a"},
        ],
        "assignments": [{"wo_id": w, "tracks": ["a"]} for w in ids],
    }


async def organize(
    h: Home, steps: Sequence[Step], mode: OrganizeMode | None = None
) -> tuple[OrganizeOutcome, Any]:
    backend, runtime = fake_backend(lambda spec: steps)
    with anyio.fail_after(60):
        outcome = await run_organize(h.settings, h.store, "demo", mode, backend=backend)
    return outcome, runtime


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (nine_top_level, "at most 8 top-level tracks are allowed"),
        (unknown_wo, "unknown work order ids (not in project demo): WO-1999-001"),
        (cycle, "parent cycle: a -> b -> a"),
    ],
)
async def test_a_bad_proposal_is_fed_back_and_the_corrected_one_stored(
    home: Path, tmp_path: Path, bad: Any, expected: str
) -> None:
    h = open_home(home)
    ids = project_with_wos(h, tmp_path)
    steps = [
        CallTool("propose_tracks", bad(ids)),
        CallTool("propose_tracks", good_proposal(ids)),
        Finish(),
    ]
    outcome, runtime = await organize(h, steps)
    first, second = runtime.tool_calls
    assert not first.reply.ok and expected in first.reply.text
    assert "2 attempts left" in first.reply.text
    assert second.reply.ok and "stored for review" in second.reply.text
    assert (outcome.mode, outcome.status, outcome.attempts) == ("initial", "pending", 2)
    # The agent got the initial payload, limit included.
    spec: SessionSpec = runtime.specs[0]
    payload = payload_of(spec)
    assert spec.role is Role.ORGANIZER and payload["max_top_level_tracks"] == 8
    assert [w["id"] for w in payload["work_orders"]] == ids
    # Stored, not applied.
    (row,) = h.store.list_proposals("demo")
    assert row.id == outcome.proposal_id and row.status == "pending" and row.mode == "initial"
    assert h.store.list_tracks() == []
    assert h.store.get_run(str(outcome.run_id)).status == "succeeded"
    assert h.store.new_wo_counts()["demo"] == 0


async def test_attempts_are_bounded(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    ids = project_with_wos(h, tmp_path)
    replace_settings(h, "organizer", max_attempts=2)
    steps = [CallTool("propose_tracks", cycle(ids)) for _ in range(3)] + [Finish()]
    outcome, runtime = await organize(h, steps)
    replies = [c.reply for c in runtime.tool_calls]
    assert [r.ok for r in replies] == [False, False, False]
    assert "no attempts left (2 used)" in replies[2].text
    assert outcome.proposal_id is None and outcome.error is not None
    assert "no valid proposal in 2 attempts" in outcome.error
    assert h.store.list_proposals() == []
    run = h.store.get_run(str(outcome.run_id))
    assert run.status == "failed" and "parent cycle" in str(run.error)
    # A failed run does not reset the trigger.
    assert h.store.new_wo_counts()["demo"] == 4


async def test_a_valid_call_repeated_after_a_resume_stores_one_proposal(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    ids = project_with_wos(h, tmp_path)
    call = CallTool("propose_tracks", good_proposal(ids))
    outcome, runtime = await organize(h, [call, call, Finish()])
    assert [c.reply.ok for c in runtime.tool_calls] == [True, True]
    assert "already stored" in runtime.tool_calls[1].reply.text
    assert [r.id for r in h.store.list_proposals()] == [outcome.proposal_id]


def place_in(track_for: dict[str, str]) -> Any:
    """An organizer that places every WO without a track by its first tag."""

    def script(spec: SessionSpec) -> list[Step]:
        assert spec.role is Role.ORGANIZER, spec.role
        payload = payload_of(spec)
        placed = [
            {"wo_id": w["id"], "tracks": [track_for[w["tags"][0]]]}
            for w in payload["work_orders"]
            if not w.get("tracks")
        ]
        tracks = [
            {"key": k, "name": k, "goal": f"{k} work"}
            for k in sorted(set(track_for.values()))
            if k not in {t["id"] for t in payload["tracks"]}
        ]
        args = {"tracks": tracks, "assignments": placed}
        return [CallTool("propose_tracks", args), Finish()]

    return script


async def test_daemon_organizes_after_n_new_wos_and_auto_applies_assignments(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    h.add_project("demo", tmp_path / "demo")
    first = add_wos(h, "demo", 3)
    h.store.create_track("demo", "api", "feature", goal="The API")
    h.store.assign("api", first)
    h.store.consume_new_wos("demo", 3)
    replace_settings(h, "organizer", auto_apply_incremental=True)

    add_wos(h, "demo", 9)
    _, runtime = await run_fake(h, place_in({"api": "api"}))
    assert runtime.specs == [], "9 new WOs are below the threshold of 10"

    new = add_wos(h, "demo", 1)
    _, runtime = await run_fake(h, place_in({"api": "api"}))
    (spec,) = runtime.specs
    assert payload_of(spec)["mode"] == "incremental"
    (proposal,) = h.store.list_proposals("demo")
    assert proposal.status == "approved" and proposal.proposal["trigger"] == "auto"
    placed = {w["id"] for w in h.store.list_work_orders(track="api")}
    assert len(placed) == 13 and set(new) <= placed
    assert h.store.new_wo_counts()["demo"] == 0
    approved = h.events("proposal_approved")
    assert approved[-1].data["auto"] is True


async def test_a_project_another_host_organizes_is_not_organized_twice(
    home: Path, tmp_path: Path
) -> None:
    """Daemons sharing a database: the one that holds ``organize:<project>`` organizes it;
    the other leaves it alone meanwhile, and holds the lock only while its own run lasts."""
    h = open_home(home)
    h.add_project("demo", tmp_path / "demo")
    h.store.create_track("demo", "api", "feature", goal="The API")
    replace_settings(h, "organizer", auto_apply_incremental=True)
    add_wos(h, "demo", 10)
    assert h.store.try_lock("organize:demo", "daemon-elsewhere", 600.0)
    _, runtime = await run_fake(h, place_in({"api": "api"}))
    assert runtime.specs == [] and h.store.list_proposals("demo") == []
    assert h.store.new_wo_counts()["demo"] == 10

    h.store.unlock("organize:demo", "daemon-elsewhere")
    _, runtime = await run_fake(h, place_in({"api": "api"}))
    assert len(runtime.specs) == 1
    (proposal,) = h.store.list_proposals("demo")
    assert proposal.status == "approved"
    # Released once the run ended: another host may take it at once.
    assert h.store.try_lock("organize:demo", "daemon-elsewhere", 600.0)


async def test_structural_incremental_proposals_wait_for_a_human(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    h.add_project("demo", tmp_path / "demo")
    h.store.create_track("demo", "api", "feature", goal="The API")
    replace_settings(h, "organizer", auto_apply_incremental=True, organize_after_new_wos=5)
    add_wos(h, "demo", 5, tag="billing")
    _, runtime = await run_fake(h, place_in({"billing": "billing"}))
    assert len(runtime.specs) == 1
    (proposal,) = h.store.list_proposals("demo")
    assert proposal.status == "pending"
    assert [t["id"] for t in h.store.list_tracks()] == ["api"]
    # Nothing new arrived since: the daemon does not ask again.
    _, runtime = await run_fake(h, place_in({"billing": "billing"}))
    assert runtime.specs == []


async def test_wos_a_project_agent_already_placed_need_no_session(
    home: Path, tmp_path: Path
) -> None:
    h = open_home(home)
    h.add_project("demo", tmp_path / "demo")
    h.store.create_track("demo", "api", "feature")
    h.store.assign("api", add_wos(h, "demo", 10))
    _, runtime = await run_fake(h, place_in({"api": "api"}))
    assert runtime.specs == []
    assert h.store.new_wo_counts()["demo"] == 0
