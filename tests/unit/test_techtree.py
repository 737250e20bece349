"""The tech tree's layout: lanes, bands, depth columns, arrows, escaping, determinism."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.web.techtree import (
    COL_W,
    LANE_HEAD_W,
    dependency_depths,
    layout,
    tech_tree,
)


def track(tid: str, parent: str | None = None, depth: int = 0, kind: str = "feature") -> Any:
    return {
        "id": tid,
        "name": tid,
        "parent": parent,
        "depth": depth,
        "status": "active",
        "type": kind,
    }


def wo(
    wid: str,
    tracks: list[str],
    deps: list[str] = (),
    status: str = "backlog",  # type: ignore[assignment]
    title: str = "t",
) -> Any:
    return {
        "id": wid,
        "title": title,
        "status": status,
        "tracks": tracks,
        "depends_on": list(deps),
        "tags": [],
    }


TRACKS = [
    track("api"),
    track("api-auth", "api", 1),
    track("ui"),
    track("race-a", kind="experiment"),
]
WOS = [
    wo("WO-1", ["api"], status="done"),
    wo("WO-2", ["api-auth"], ["WO-1"]),
    wo("WO-3", ["ui"], ["WO-2"]),
    wo("WO-4", ["ui", "api"], ["WO-1"]),
    wo("WO-5", []),
    wo("WO-6", ["race-a"]),
]


def test_lanes_per_top_level_track_bands_per_sub_track() -> None:
    tree = layout(TRACKS, WOS)
    assert [(lane.track_id, lane.kind) for lane in tree.lanes] == [
        ("api", "track"),
        ("ui", "track"),
        ("(experiments)", "experiments"),
        ("(no track)", "untracked"),
    ]
    api = tree.lanes[0]
    assert [b.track_id for b in api.bands] == ["api", "api-auth"]
    assert [w["id"] for w in api.bands[1].wos] == ["WO-2"]
    assert api.progress() == (1, 3)  # WO-1 done; WO-4 sits in api (not ui): first in tree order


def test_every_wo_once_in_the_column_of_its_depth() -> None:
    tree = layout(TRACKS, WOS)
    assert sorted(tree.positions) == sorted(w["id"] for w in WOS)
    column = {k: (x - LANE_HEAD_W) // COL_W for k, (x, _) in tree.positions.items()}
    assert column == {"WO-1": 0, "WO-2": 1, "WO-3": 2, "WO-4": 1, "WO-5": 0, "WO-6": 0}
    # Arrows cross lanes: WO-2 (api) -> WO-3 (ui).
    assert ("WO-2", "WO-3") in tree.edges
    assert tree.positions["WO-3"][1] > tree.lanes[1].top >= tree.positions["WO-2"][1]


def test_nodes_of_one_band_and_column_do_not_overlap() -> None:
    wos = [wo(f"WO-{n}", ["api"]) for n in range(5)]
    tree = layout([track("api")], wos)
    assert len(set(tree.positions.values())) == 5
    assert tree.lanes[0].bands[0].rows == 5


def test_depth_survives_long_chains_and_cycles() -> None:
    chain = [wo(f"WO-{n:05d}", ["api"], [f"WO-{n - 1:05d}"] if n else []) for n in range(5000)]
    assert dependency_depths(chain)["WO-04999"] == 4999
    looped = [wo("WO-1", [], ["WO-2"]), wo("WO-2", [], ["WO-1"])]
    assert set(dependency_depths(looped)) == {"WO-1", "WO-2"}


def test_the_svg_escapes_titles_and_is_deterministic() -> None:
    wos = [*WOS, wo("WO-7", ["api"], title="<script>alert(1)</script>")]
    svg, _ = tech_tree(TRACKS, wos)
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert tech_tree(list(TRACKS), list(reversed(wos)))[0] == svg
    assert len(re.findall(r'class="node ', svg)) == len(wos)
    assert 'class="node st-done"' in svg
