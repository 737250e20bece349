"""Validating organizer proposals, and the diff a reviewer sees."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.organization import (
    MAX_TOP_LEVEL_TRACKS,
    OrganizeMode,
    OrgState,
    Proposal,
    ProposalRejectedError,
    TrackInfo,
    WOInfo,
)
from orchestrator.domain.proposal import validate_proposal
from orchestrator.domain.proposal_diff import diff_proposal, plan_application

INITIAL, INCREMENTAL, REORG = OrganizeMode.INITIAL, OrganizeMode.INCREMENTAL, OrganizeMode.REORG


def wo(n: int, *tracks: str, status: str = "backlog") -> WOInfo:
    return WOInfo(id=f"WO-2026-{n:03d}", title=f"wo {n}", tags=("t",), status=status, tracks=tracks)


def track(key: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": key, "goal": f"{key} goal", "parent": parent, **extra}


def assign(mapping: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"wo_id": w, "tracks": t} for w, t in mapping.items()]


def problems(state: OrgState, mode: OrganizeMode, args: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(ProposalRejectedError) as caught:
        validate_proposal(state, mode, args, **kw)
    return caught.value.problems


EMPTY = OrgState(project="p", work_orders=tuple(wo(n) for n in range(1, 5)))
LIVE = OrgState(
    project="p",
    tracks=(
        TrackInfo("api", "api", "The API"),
        TrackInfo("api-auth", "api-auth", "Auth", parent="api"),
        TrackInfo("ui", "ui", "Screens"),
        TrackInfo("old", "old", "Old", status="cancelled"),
    ),
    work_orders=(
        wo(1, "api"),
        wo(2, "api-auth"),
        wo(3, "ui"),
        wo(4, "ui", status="running"),
        wo(5),
        wo(6, status="done"),
    ),
)


def test_initial_proposal_is_normalized() -> None:
    args = {
        "tracks": [
            {"key": "core", "name": "Core Engine", "goal": "  the core ", "type": "fix"},
            track("core-io", parent="core", status="ready"),
        ],
        "assignments": [
            *assign({"WO-2026-001": ["core"], "WO-2026-002": ["core-io", "core"]}),
            {"wo_id": "group:t:backlog", "tracks": ["core"]},
        ],
        "recommendations": ["split core later", " "],
    }
    refs = {"group:t:backlog": ("WO-2026-003", "WO-2026-004")}
    proposal = validate_proposal(EMPTY, INITIAL, args, refs=refs)
    core, core_io = proposal.tracks
    assert (core.name, core.goal, core.type, core.status) == (
        "core-engine",
        "the core",
        "bugfix",
        "draft",
    )
    assert (core_io.parent, core_io.status, core_io.existing) == ("core", "ready", False)
    assert proposal.assignments == {
        "WO-2026-001": ("core",),
        "WO-2026-002": ("core", "core-io"),
        "WO-2026-003": ("core",),
        "WO-2026-004": ("core",),
    }
    assert proposal.recommendations == ("split core later",)
    assert Proposal.from_json(proposal.to_json()) == proposal


def test_more_than_eight_top_level_tracks_are_refused_naming_the_limit() -> None:
    keys = [f"t{n}" for n in range(MAX_TOP_LEVEL_TRACKS + 1)]
    args = {
        "tracks": [track(k) for k in keys],
        "assignments": assign({f"WO-2026-{n:03d}": ["t0"] for n in range(1, 5)}),
    }
    (problem,) = problems(EMPTY, INITIAL, args)
    assert "9 top-level tracks" in problem and "at most 8 top-level tracks" in problem
    # As sub-tracks they are fine.
    args["tracks"] = [track("t0")] + [track(k, parent="t0") for k in keys[1:]]
    assert len(validate_proposal(EMPTY, INITIAL, args).tracks) == 9


def test_unknown_work_orders_and_tracks_are_named() -> None:
    args = {
        "tracks": [track("a")],
        "assignments": assign(
            {f"WO-2026-{n:03d}": ["a"] for n in range(1, 5)}
            | {"WO-2026-999": ["a"], "WO-2026-001": ["nope"]}
        ),
    }
    found = problems(EMPTY, INITIAL, args)
    assert any("unknown work order ids" in p and "WO-2026-999" in p for p in found)
    assert any("unknown tracks in assignments: nope" in p for p in found)


def test_parent_cycles_and_self_parents_are_refused() -> None:
    args = {
        "tracks": [track("a", parent="b"), track("b", parent="a"), track("c", parent="c")],
        "assignments": assign({f"WO-2026-{n:03d}": ["a"] for n in range(1, 5)}),
    }
    found = problems(EMPTY, INITIAL, args)
    assert "parent cycle: a -> b -> a" in found
    assert any("c cannot be its own parent" in p for p in found)


def test_sub_track_of_a_sub_track_is_refused() -> None:
    args = {
        "tracks": [track("a"), track("b", parent="a"), track("c", parent="b")],
        "assignments": assign({f"WO-2026-{n:03d}": ["a"] for n in range(1, 5)}),
    }
    (problem,) = problems(EMPTY, INITIAL, args)
    assert "c would be a sub-track of sub-track b" in problem and "attach it to a" in problem
    assert validate_proposal(EMPTY, INITIAL, args, allow_nested=True)


def test_initial_mode_leaves_no_work_order_unassigned() -> None:
    args = {"tracks": [track("a")], "assignments": assign({"WO-2026-001": ["a"]})}
    (problem,) = problems(EMPTY, INITIAL, args)
    assert problem.startswith("3 work orders left unassigned: WO-2026-002, WO-2026-003")


def test_incremental_places_only_wos_without_a_track() -> None:
    args = {"tracks": [], "assignments": assign({"WO-2026-005": ["ui"], "WO-2026-001": ["ui"]})}
    (problem,) = problems(LIVE, INCREMENTAL, args)
    assert "already have one: WO-2026-001" in problem
    args["assignments"] = assign({"WO-2026-005": ["ui"]})
    plan = plan_application(LIVE, validate_proposal(LIVE, INCREMENTAL, args))
    assert not plan.structural and [c.add for c in plan.links] == [("ui",)]


def test_existing_tracks_rename_reparent_and_cancel() -> None:
    args = {
        "tracks": [
            {"key": "api-auth", "name": "Identity", "goal": "Auth", "parent": None},
            {"key": "ui", "name": "ui", "goal": "Screens", "status": "cancelled"},
        ],
        "assignments": assign({"WO-2026-003": ["api"], "WO-2026-004": ["api"]}),
    }
    found = problems(LIVE, REORG, args)
    # WO-2026-004 runs in ui: it may not be moved out while it runs.
    assert found == ["WO-2026-004 is running in ui: keep it there while it runs"]
    args["assignments"] = assign({"WO-2026-003": ["api"]})
    (problem,) = problems(LIVE, REORG, args)
    assert "would leave open work orders without a track: WO-2026-004" in problem


def test_an_organizer_may_not_move_track_lifecycles() -> None:
    args = {"tracks": [{"key": "api", "name": "api", "goal": "x", "status": "active"}]}
    (problem,) = problems(LIVE, REORG, args)
    assert "may only cancel an existing track" in problem


def test_retired_tracks_are_not_reused_and_names_stay_unique() -> None:
    args = {"tracks": [track("old"), {"key": "new", "name": "old", "goal": "g"}]}
    found = problems(LIVE, REORG, args)
    assert "track old is cancelled: give a new track a new key" in found
    assert "track new: name 'old' is taken by track old (cancelled); choose another name" in found


def test_a_new_track_named_like_a_live_one_means_that_track() -> None:
    args = {
        "tracks": [{"key": "auth-2", "name": "API Auth", "goal": "Auth", "parent": None}],
        "assignments": assign({"WO-2026-005": ["auth-2"]}),
    }
    proposal = validate_proposal(LIVE, REORG, args)
    (entry,) = proposal.tracks
    assert entry.key == "api-auth" and entry.existing and entry.parent is None
    assert proposal.assignments == {"WO-2026-005": ("api-auth",)}


def test_diff_shows_added_renamed_promoted_merged_and_split_tracks() -> None:
    state = OrgState(
        project="p",
        tracks=(
            TrackInfo("api", "api", "The API"),
            TrackInfo("api-auth", "api-auth", "Auth", parent="api"),
            TrackInfo("misc", "misc", "Misc"),
            TrackInfo("big", "big", "Big"),
        ),
        work_orders=(
            wo(1, "api"),
            wo(2, "api-auth"),
            wo(3, "misc"),
            wo(4, "big"),
            wo(5, "big"),
            wo(6),
        ),
    )
    args = {
        "tracks": [
            {"key": "api", "name": "platform", "goal": "The API"},
            {"key": "api-auth", "name": "api-auth", "goal": "Auth", "parent": None},
            track("left"),
            track("right", parent="left"),
            {"key": "big", "name": "big", "goal": "Big"},
        ],
        "assignments": assign(
            {
                "WO-2026-003": ["api"],
                "WO-2026-004": ["left"],
                "WO-2026-005": ["right"],
                "WO-2026-006": ["api"],
            }
        ),
        "recommendations": ["misc was tiny"],
    }
    proposal = validate_proposal(state, REORG, args)
    diff = diff_proposal(state, proposal)
    assert [t.key for t in diff.added] == ["left", "right"]
    assert diff.renamed == (("api", "api", "platform"),)
    assert diff.reparented == (("api-auth", "api", None),)
    # misc is not listed and left empty: merged away (a draft track may be cancelled).
    assert diff.merged == (("misc", "api"),) and diff.cancelled == ("misc",)
    assert diff.split == (("big", ("left", "right")),)
    assert diff.assigned == 1 and len(diff.moved) == 3
    assert diff.per_track["api"] == (2, 0) and diff.per_track["big"] == (0, 2)
    assert diff.structural
    assert diff.to_json()["work_orders"] == {
        "assigned": 1,
        "moved": 3,
        "unchanged": 0,
        "still_unassigned": 0,
    }


def test_fingerprint_changes_with_a_new_wo_or_assignment_not_with_status() -> None:
    base = LIVE.fingerprint()
    more = OrgState(project="p", tracks=LIVE.tracks, work_orders=(*LIVE.work_orders, wo(7)))
    assert more.fingerprint() != base
    moved = OrgState(
        project="p", tracks=LIVE.tracks, work_orders=(wo(1, "ui"), *LIVE.work_orders[1:])
    )
    assert moved.fingerprint() != base
    progressed = OrgState(
        project="p",
        tracks=LIVE.tracks,
        work_orders=(wo(1, "api", status="done"), *LIVE.work_orders[1:]),
    )
    assert progressed.fingerprint() == base


def test_default_mode_is_initial_without_live_tracks() -> None:
    assert EMPTY.default_mode() is INITIAL
    assert LIVE.default_mode() is INCREMENTAL
    retired_only = OrgState(project="p", tracks=(TrackInfo("x", "x", status="archived"),))
    assert retired_only.default_mode() is INITIAL
