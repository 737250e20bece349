"""The tech tree: a deterministic layout of one project's tracks and WOs, drawn as SVG.

One lane per top-level track (the organizer keeps them at most 8), a band per sub-track inside
its lane, and a last lane for WOs without a track. A WO sits once, in the first of its tracks
(tree order), in the column of its dependency depth; arrows run from a dependency to its
dependent, across lanes too. Pure: rows in, text out, so tests need no browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

NODE_W = 168
NODE_H = 26
COL_W = 196
ROW_H = 34
LANE_HEAD_W = 220
BAND_LABEL_H = 18
LANE_GAP = 10
TITLE_CHARS = 18
#: The band of WOs that belong to no track.
UNTRACKED = "(no track)"
#: The lane of experiment variants: they race one problem, outside the organizer's tracks
#: (and its limit of 8), so they share one lane, a band per variant.
EXPERIMENTS = "(experiments)"


@dataclass
class Band:
    track_id: str
    label: str
    depth: int
    wos: list[dict[str, Any]] = field(default_factory=list)
    top: int = 0
    rows: int = 1


@dataclass
class Lane:
    track_id: str
    label: str
    status: str
    bands: list[Band] = field(default_factory=list)
    top: int = 0
    height: int = 0
    #: "track" for a top-level track's lane; "experiments" or "untracked" otherwise.
    kind: str = "track"

    @property
    def wo_ids(self) -> list[str]:
        return [w["id"] for band in self.bands for w in band.wos]

    def progress(self) -> tuple[int, int]:
        wos = [w for band in self.bands for w in band.wos]
        return sum(1 for w in wos if w["status"] == "done"), len(wos)


@dataclass
class TreeLayout:
    lanes: list[Lane]
    #: WO id -> (x, y) of its node's top-left corner.
    positions: dict[str, tuple[int, int]]
    edges: list[tuple[str, str]]
    width: int
    height: int


def dependency_depths(wos: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Longest chain of dependencies below each WO (0: depends on nothing in the project).

    Iterative, so a 10,000-long chain does not hit the recursion limit; a cycle (refused on
    import, but cheap to survive) counts its back edge as depth 0.
    """
    deps = {w["id"]: [d for d in w["depends_on"]] for w in wos}
    depth: dict[str, int] = {}
    for start in sorted(deps):
        stack: list[tuple[str, int]] = [(start, 0)]
        visiting: set[str] = set()
        while stack:
            wo_id, index = stack.pop()
            if index == 0:
                if wo_id in depth:
                    continue
                visiting.add(wo_id)
            children = [d for d in deps[wo_id] if d in deps]
            if index < len(children):
                stack.append((wo_id, index + 1))
                child = children[index]
                if child not in depth and child not in visiting:
                    stack.append((child, 0))
                continue
            depth[wo_id] = 1 + max((depth.get(c, -1) for c in children), default=-1)
            visiting.discard(wo_id)
    return depth


def layout(tracks: Sequence[dict[str, Any]], wos: Sequence[dict[str, Any]]) -> TreeLayout:
    """Place every WO of ``wos`` once; ``tracks`` are ``track list`` rows in tree order."""
    lanes: list[Lane] = []
    band_of: dict[str, Band] = {}
    lane_of_root: dict[str, Lane] = {}
    root_of: dict[str, str] = {}
    variants = Lane(EXPERIMENTS, "experiments", "", kind="experiments")
    for track in tracks:
        parent = track["parent"]
        root = track["id"] if parent is None or parent not in root_of else root_of[parent]
        root_of[track["id"]] = root
        if root == track["id"]:
            if track["type"] == "experiment":
                lane_of_root[root] = variants
            else:
                lane = Lane(track["id"], track["name"], track["status"])
                lanes.append(lane)
                lane_of_root[root] = lane
        band = Band(track["id"], track["name"], track["depth"])
        lane_of_root[root].bands.append(band)
        band_of[track["id"]] = band
    untracked = Lane(UNTRACKED, UNTRACKED, "", [Band(UNTRACKED, UNTRACKED, 0)], kind="untracked")
    order = {t["id"]: i for i, t in enumerate(tracks)}
    for wo in sorted(wos, key=lambda w: w["id"]):
        home = min((t for t in wo["tracks"] if t in band_of), key=order.__getitem__, default=None)
        (band_of[home] if home is not None else untracked.bands[0]).wos.append(wo)
    if variants.bands:
        lanes.append(variants)
    if untracked.bands[0].wos:
        lanes.append(untracked)
    depths = dependency_depths(wos)
    positions: dict[str, tuple[int, int]] = {}
    y = 0
    for lane in lanes:
        lane.top = y
        for band in lane.bands:
            band.top = y
            per_column: dict[int, int] = {}
            for wo in band.wos:
                column = depths.get(wo["id"], 0)
                row = per_column.get(column, 0)
                per_column[column] = row + 1
                positions[wo["id"]] = (
                    LANE_HEAD_W + column * COL_W,
                    y + BAND_LABEL_H + row * ROW_H,
                )
            band.rows = max(per_column.values(), default=1)
            y += BAND_LABEL_H + band.rows * ROW_H
        lane.height = y - lane.top
        y += LANE_GAP
    edges = sorted((dep, w["id"]) for w in wos for dep in w["depends_on"] if dep in positions)
    columns = max(depths.values(), default=0) + 1
    return TreeLayout(lanes, positions, edges, LANE_HEAD_W + columns * COL_W, max(y, ROW_H))


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def render_svg(tree: TreeLayout, statuses: dict[str, str], titles: dict[str, str]) -> str:
    """The SVG of a layout; every text is escaped (WO titles are data)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="techtree" width="{tree.width}" '
        f'height="{tree.height}" viewBox="0 0 {tree.width} {tree.height}" role="img" '
        'aria-label="tech tree">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>",
    ]
    for index, lane in enumerate(tree.lanes):
        done, total = lane.progress()
        out.append(
            f'<g class="lane" data-kind="{lane.kind}" data-track="{escape(lane.track_id)}">'
            f'<rect class="lane-bg lane-{index % 2}" x="0" y="{lane.top}" width="{tree.width}" '
            f'height="{lane.height}"/>'
            f'<text class="lane-name" x="8" y="{lane.top + 16}">{escape(_short(lane.label, 26))}'
            f"</text>"
            f'<text class="lane-progress" x="8" y="{lane.top + 32}">{done}/{total} done</text>'
            f'<rect class="bar" x="8" y="{lane.top + 38}" width="160" height="6"/>'
            f'<rect class="bar-done" x="8" y="{lane.top + 38}" '
            f'width="{160 * done // total if total else 0}" height="6"/>'
        )
        first = 1 if lane.kind == "track" else 0  # a track's own WOs need no band label
        for band in lane.bands[first:] if lane.kind != "untracked" else []:
            out.append(
                f'<g class="band" data-track="{escape(band.track_id)}">'
                f'<line class="band-line" x1="{LANE_HEAD_W - 12}" y1="{band.top}" '
                f'x2="{tree.width}" y2="{band.top}"/>'
                f'<text class="band-name" x="{LANE_HEAD_W - 4}" y="{band.top + 13}">'
                f"{'↳ ' * band.depth}{escape(_short(band.label, 40))}</text></g>"
            )
        out.append("</g>")
    for dep, wo_id in tree.edges:
        x1, y1 = tree.positions[dep]
        x2, y2 = tree.positions[wo_id]
        out.append(
            f'<path class="edge" d="M {x1 + NODE_W} {y1 + NODE_H // 2} C {x1 + NODE_W + 20} '
            f'{y1 + NODE_H // 2}, {x2 - 20} {y2 + NODE_H // 2}, {x2} {y2 + NODE_H // 2}" '
            f'marker-end="url(#arrow)"/>'
        )
    for wo_id in sorted(tree.positions):
        x, y = tree.positions[wo_id]
        status = statuses.get(wo_id, "")
        title = titles.get(wo_id, "")
        out.append(
            f'<a href="/wo/{escape(wo_id)}" class="node st-{escape(status)}" '
            f'data-wo="{escape(wo_id)}"><title>{escape(wo_id)} [{escape(status)}] '
            f"{escape(title)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
            f'<text x="{x + 6}" y="{y + 17}">{escape(wo_id[-3:])} '
            f"{escape(_short(title, TITLE_CHARS))}</text></a>"
        )
    out.append("</svg>")
    return "".join(out)


def tech_tree(
    tracks: Sequence[dict[str, Any]], wos: Sequence[dict[str, Any]]
) -> tuple[str, TreeLayout]:
    """The tech tree of one project's ``track list`` and ``wo list`` rows: SVG and layout."""
    tree = layout(tracks, wos)
    svg = render_svg(tree, {w["id"]: w["status"] for w in wos}, {w["id"]: w["title"] for w in wos})
    return svg, tree
