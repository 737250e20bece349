"""The organizer's context builder: everything below the budget, groups above it."""

from __future__ import annotations

import random

from orchestrator.domain.organization import OrganizeMode, OrgState, TrackInfo, WOInfo
from orchestrator.domain.organize_context import (
    DEFAULT_TOKEN_BUDGET,
    build_context,
    estimate_tokens,
)
from orchestrator.domain.payload import render_payload

STATUSES = ("backlog", "ready", "done", "done", "failed", "blocked", "cancelled")


def wo(n: int, tag: str = "api", status: str = "backlog", tracks: tuple[str, ...] = ()) -> WOInfo:
    return WOInfo(
        id=f"WO-2026-{n:03d}",
        title=f"Work order number {n} about {tag}",
        tags=(tag,),
        status=status,
        tracks=tracks,
    )


def synthetic(count: int, tags: int, tracks: int) -> OrgState:
    """``count`` WOs over ``tags`` tags and every status, half of them in ``tracks`` tracks."""
    rng = random.Random(7)
    track_infos = tuple(
        TrackInfo(
            id=f"track-{t}",
            name=f"track-{t}",
            goal=f"Goal of track {t}: " + "a long explanation " * 5,
            parent=f"track-{t - 1}" if t % 4 else None,
        )
        for t in range(tracks)
    )
    wos = tuple(
        WOInfo(
            id=f"WO-2026-{n:05d}",
            title=f"Synthetic work order {n} with a reasonably long descriptive title",
            tags=(f"tag-{rng.randrange(tags)}", "extra"),
            status=rng.choice(STATUSES),
            depends_on=(f"WO-2026-{n - 1:05d}",) if n % 3 else (),
            tracks=(f"track-{n % tracks}",) if n % 2 else (),
        )
        for n in range(1, count + 1)
    )
    return OrgState(project="big", tracks=track_infos, work_orders=wos)


def test_below_the_budget_every_wo_is_listed_with_all_its_fields() -> None:
    state = OrgState(
        project="p",
        tracks=(TrackInfo("api", "api", goal="The API", parent=None),),
        work_orders=(wo(1, tracks=("api",)), wo(2, "ui", "done")),
    )
    ctx = build_context(state, OrganizeMode.REORG)
    assert ctx.level == "full" and ctx.fits and ctx.refs == {}
    assert ctx.payload["kind"] == "organize"
    assert ctx.payload["max_top_level_tracks"] == 8
    assert ctx.payload["work_orders"] == [
        {
            "id": "WO-2026-001",
            "title": "Work order number 1 about api",
            "tags": ["api"],
            "status": "backlog",
            "depends_on": [],
            "tracks": ["api"],
        },
        {
            "id": "WO-2026-002",
            "title": "Work order number 2 about ui",
            "tags": ["ui"],
            "status": "done",
            "depends_on": [],
            "tracks": [],
        },
    ]
    assert ctx.payload["tracks"][0] | {"wo_count": 1} == {
        "id": "api",
        "name": "api",
        "goal": "The API",
        "type": "feature",
        "status": "draft",
        "parent": None,
        "wo_count": 1,
        "done_count": 0,
    }


def test_token_estimate_is_characters_over_four_of_the_rendered_payload() -> None:
    state = synthetic(50, tags=3, tracks=2)
    ctx = build_context(state, OrganizeMode.INITIAL)
    assert ctx.tokens == estimate_tokens(render_payload(ctx.payload))
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2


def test_ten_thousand_wos_fit_the_budget_and_keep_every_track() -> None:
    state = synthetic(10_000, tags=40, tracks=30)
    for mode in OrganizeMode:
        ctx = build_context(state, mode)
        rendered = render_payload(ctx.payload)
        assert ctx.fits, (mode, ctx.level, ctx.tokens)
        assert estimate_tokens(rendered) <= DEFAULT_TOKEN_BUDGET
        assert [t["id"] for t in ctx.payload["tracks"]] == [
            t["id"] for t in ctx.payload["tracks"] if t["id"] in {x.id for x in state.tracks}
        ]
        assert {t["id"] for t in ctx.payload["tracks"]} == {t.id for t in state.tracks}
        # Sizes survive compression: the counts add up to every WO.
        summary = ctx.payload["summary"]
        assert summary["listed"] + summary["in_groups"] == 10_000
        assert (
            len(ctx.payload["work_orders"]) + sum(g["count"] for g in ctx.payload["groups"])
            == 10_000
        )


def test_ten_thousand_distinct_tags_still_fit_by_merging_the_smallest_groups() -> None:
    state = synthetic(10_000, tags=10_000, tracks=5)
    ctx = build_context(state, OrganizeMode.INITIAL)
    assert ctx.fits, (ctx.level, ctx.tokens)
    assert any(g["tag"] == "(other)" for g in ctx.payload["groups"])
    # Every WO to place is reachable: listed by id, or through a group's ref.
    reachable = {w["id"] for w in ctx.payload["work_orders"]}
    for ids in ctx.refs.values():
        reachable.update(ids)
    assert reachable == {w.id for w in state.work_orders}


def test_over_the_budget_done_wos_are_counted_not_listed() -> None:
    wos = [wo(n, "api", "done") for n in range(1, 201)] + [wo(n, "ui") for n in range(201, 221)]
    state = OrgState(project="p", work_orders=tuple(wos))
    full = build_context(state, OrganizeMode.INITIAL, budget=100_000)
    assert full.level == "full"
    ctx = build_context(state, OrganizeMode.INITIAL, budget=full.tokens // 2)
    assert ctx.level == "open" and ctx.fits
    assert {w["status"] for w in ctx.payload["work_orders"]} == {"backlog"}
    (done,) = [g for g in ctx.payload["groups"] if g["status"] == "done"]
    assert done["count"] == 200 and done["ref"] == "group:api:done"
    assert ctx.refs["group:api:done"] == tuple(f"WO-2026-{n:03d}" for n in range(1, 201))


def test_incremental_lists_the_wos_without_a_track_and_groups_the_rest() -> None:
    tracks = (TrackInfo("api", "api"),)
    placed = [wo(n, "api", tracks=("api",)) for n in range(1, 301)]
    new = [wo(n, "billing") for n in range(301, 306)]
    state = OrgState(project="p", tracks=tracks, work_orders=(*placed, *new))
    full = build_context(state, OrganizeMode.INCREMENTAL, budget=100_000)
    ctx = build_context(state, OrganizeMode.INCREMENTAL, budget=full.tokens // 3)
    assert ctx.level == "focus" and ctx.fits
    assert [w["id"] for w in ctx.payload["work_orders"]] == [w.id for w in new]
    (group,) = ctx.payload["groups"]
    # WOs that already have a track are context only: no ref, so they cannot be re-placed.
    assert group["count"] == 300 and "ref" not in group and group["in_tracks"] == ["api"]
    assert ctx.refs == {}
    assert ctx.payload["summary"]["to_place"] == 5


def test_titles_are_shortened_when_compressed() -> None:
    long_title = "x" * 300
    wos = [WOInfo(f"WO-2026-{n:03d}", long_title, ("a",)) for n in range(1, 60)]
    state = OrgState(project="p", work_orders=tuple(wos))
    full = build_context(state, OrganizeMode.INITIAL, budget=1_000_000)
    ctx = build_context(state, OrganizeMode.INITIAL, budget=full.tokens // 2)
    assert ctx.fits
    titles = [w["title"] for w in ctx.payload["work_orders"]]
    titles += [s for g in ctx.payload["groups"] for s in g.get("samples", [])]
    assert titles and all(len(t) <= 80 for t in titles)
