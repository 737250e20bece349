"""The organizer's view of a project: every WO when it fits the token budget, groups when not.

Token estimate (documented, the same as the simulator's): ``ceil(characters / 4)`` of the
payload exactly as it is rendered into the prompt. Four characters per token is the usual
rule of thumb for English text and JSON; it errs on the generous side for ids and digits.

The builder tries levels from the most detailed to the most compressed and keeps the first
that fits the budget:

``full``     every WO with id, title, tags, status, deps and current tracks.
``open``     done and cancelled WOs are counted in groups, not listed; titles cut to 80.
``focus``    only the WOs to place are listed (incremental: those without a track); titles
             cut to 60; the rest are counted in groups.
``grouped``  every WO is counted in a group (first tag x status) with a few sample titles.
``counts``   groups without samples, track goals cut to 80.

At every grouped level, when the groups themselves do not fit, the smallest ones are merged
into one ``(other)`` group per status, so 10,000 WOs with as many tags still fit. Existing
tracks, with their goals and sizes, are always included. A group of WOs to place carries a
``ref``: an assignment may name the ref instead of the ids, standing for all of the group's
WOs (``OrganizeContext.refs`` maps it back).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.organization import (
    MAX_TOP_LEVEL_TRACKS,
    OrganizeMode,
    OrgState,
    TrackInfo,
    WOInfo,
)
from orchestrator.domain.payload import render_payload

CHARS_PER_TOKEN = 4
DEFAULT_TOKEN_BUDGET = 12_000
GROUP_REF_PREFIX = "group:"
UNTAGGED = "(untagged)"
OTHER = "(other)"
#: Room kept for the merged ``(other)`` groups when capping (characters per group).
_OTHER_GROUP_CHARS = 120
#: Fewer characters than any listed WO entry takes ({"id": "WO-2026-001", "status": ...}).
_MIN_WO_CHARS = 60


def estimate_tokens(text: str) -> int:
    """The documented estimate: ``ceil(len(text) / 4)``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def shorten(text: str, limit: int | None) -> str:
    text = " ".join(text.split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class OrganizeContext:
    payload: dict[str, Any]
    #: Group ref -> the ids of the WOs it stands for.
    refs: dict[str, tuple[str, ...]]
    level: str
    tokens: int
    budget: int

    @property
    def fits(self) -> bool:
        return self.tokens <= self.budget


@dataclass(frozen=True)
class _Level:
    name: str
    list_closed: bool
    list_unfocused: bool
    list_focus: bool
    title_len: int | None
    samples: int
    goal_len: int | None = None


LEVELS: tuple[_Level, ...] = (
    _Level("full", True, True, True, None, 0),
    _Level("open", False, True, True, 80, 2),
    _Level("focus", False, False, True, 60, 2),
    _Level("grouped", False, False, False, 40, 3),
    _Level("counts", False, False, False, 40, 0, goal_len=80),
)


def build_context(
    state: OrgState,
    mode: OrganizeMode,
    *,
    budget: int = DEFAULT_TOKEN_BUDGET,
    max_top_level: int = MAX_TOP_LEVEL_TRACKS,
) -> OrganizeContext:
    """The organize payload for ``state`` within ``budget`` tokens (see the module doc).

    Only when even the last level does not fit (thousands of tracks) is the result over
    budget; tracks are never dropped.
    """
    focus = {w.id for w in state.to_place(mode)}
    built: OrganizeContext | None = None
    for level in LEVELS:
        listed, grouped = _split(state, focus, level)
        # Rendering 10,000 entries only to find they cannot fit is the slow part: skip a
        # level whose listed WOs alone are sure to exceed the budget.
        if level is not LEVELS[-1] and len(listed) * _MIN_WO_CHARS > budget * CHARS_PER_TOKEN:
            continue
        built = _build(state, mode, focus, level, listed, grouped, budget, max_top_level)
        if built.fits:
            return built
    assert built is not None
    return built


def _split(state: OrgState, focus: set[str], level: _Level) -> tuple[list[WOInfo], list[WOInfo]]:
    """(WOs listed one by one, WOs counted in groups) at ``level``."""
    listed: list[WOInfo] = []
    grouped: list[WOInfo] = []
    for wo in sorted(state.work_orders, key=lambda w: w.id):
        in_focus = wo.id in focus
        wanted = (
            (level.list_closed or not wo.closed)
            and (level.list_unfocused or in_focus)
            and (level.list_focus or not in_focus)
        )
        (listed if wanted else grouped).append(wo)
    return listed, grouped


def _build(
    state: OrgState,
    mode: OrganizeMode,
    focus: set[str],
    level: _Level,
    listed: list[WOInfo],
    grouped: list[WOInfo],
    budget: int,
    max_top_level: int,
) -> OrganizeContext:
    counts = state.wo_counts()
    payload: dict[str, Any] = {
        "kind": "organize",
        "mode": mode.value,
        "project": state.project,
        "max_top_level_tracks": max_top_level,
        "tracks": [_track(t, counts.get(t.id, (0, 0)), level) for t in _tree(state)],
        "work_orders": [_wo(w, level) for w in listed],
        "groups": [],
        "summary": {
            "work_orders": len(state.work_orders),
            "listed": len(listed),
            "in_groups": len(grouped),
            "to_place": len(focus),
            "by_status": dict(sorted(Counter(w.status for w in state.work_orders).items())),
        },
        "context": {"level": level.name, "token_budget": budget},
    }
    groups, refs = _groups(grouped, focus, level)
    base = len(render_payload(payload))
    room = budget * CHARS_PER_TOKEN - base
    payload["groups"], refs = _cap(groups, refs, room)
    tokens = estimate_tokens(render_payload(payload))
    return OrganizeContext(
        payload=payload, refs=refs, level=level.name, tokens=tokens, budget=budget
    )


def _tree(state: OrgState) -> list[TrackInfo]:
    """Live tracks, each parent followed by its sub-tracks (stable for prompts)."""
    live = sorted(state.live_tracks, key=lambda t: t.id)
    ids = {t.id for t in live}
    children: dict[str | None, list[TrackInfo]] = {}
    for track in live:
        children.setdefault(track.parent if track.parent in ids else None, []).append(track)
    ordered: list[TrackInfo] = []
    seen: set[str] = set()

    def visit(parent: str | None) -> None:
        for child in children.get(parent, []):
            if child.id not in seen:
                seen.add(child.id)
                ordered.append(child)
                visit(child.id)

    visit(None)
    # A parent cycle in the DB would hide tracks from the walk: they are listed anyway.
    ordered.extend(t for t in live if t.id not in seen)
    return ordered


def _track(track: TrackInfo, count: tuple[int, int], level: _Level) -> dict[str, Any]:
    return {
        "id": track.id,
        "name": track.name,
        "goal": shorten(track.goal, level.goal_len),
        "type": track.type,
        "status": track.status,
        "parent": track.parent,
        "wo_count": count[0],
        "done_count": count[1],
    }


def _wo(wo: WOInfo, level: _Level) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wo.id,
        "title": shorten(wo.title, level.title_len),
        "tags": list(wo.tags),
        "status": wo.status,
    }
    # Compressed levels leave out empty lists: a reader treats a missing one as empty.
    if wo.depends_on or level.list_closed:
        entry["depends_on"] = list(wo.depends_on)
    if wo.tracks or level.list_closed:
        entry["tracks"] = list(wo.tracks)
    return entry


def _groups(
    wos: list[WOInfo], focus: set[str], level: _Level
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, ...]]]:
    by_key: dict[tuple[str, str, bool], list[WOInfo]] = {}
    for wo in wos:
        tag = wo.tags[0] if wo.tags else UNTAGGED
        by_key.setdefault((tag, wo.status, wo.id in focus), []).append(wo)
    groups: list[dict[str, Any]] = []
    refs: dict[str, tuple[str, ...]] = {}
    for (tag, status, in_focus), members in by_key.items():
        entry: dict[str, Any] = {"tag": tag, "status": status, "count": len(members)}
        if in_focus:
            ref = f"{GROUP_REF_PREFIX}{tag}:{status}"
            entry["ref"] = ref
            refs[ref] = tuple(w.id for w in members)
        in_tracks = Counter(t for w in members for t in w.tracks)
        if in_tracks:
            entry["in_tracks"] = [t for t, _ in in_tracks.most_common(3)]
        if level.samples:
            entry["samples"] = [shorten(w.title, level.title_len) for w in members[: level.samples]]
        groups.append(entry)
    groups.sort(key=lambda g: (-int(g["count"]), str(g["tag"]), str(g["status"])))
    return groups, refs


def _cap(
    groups: list[dict[str, Any]], refs: dict[str, tuple[str, ...]], room: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, ...]]]:
    """Keep the largest groups that fit ``room`` characters; merge the rest per status."""
    sizes = [len(json.dumps(g, ensure_ascii=False)) + 2 for g in groups]
    if sum(sizes) <= room:
        return groups, refs
    statuses = {(str(g["status"]), "ref" in g) for g in groups}
    room -= _OTHER_GROUP_CHARS * len(statuses)
    kept: list[dict[str, Any]] = []
    merged: dict[tuple[str, bool], dict[str, Any]] = {}
    kept_refs: dict[str, tuple[str, ...]] = {}
    for group, size in zip(groups, sizes, strict=True):
        ref = group.get("ref")
        if size <= room:
            room -= size
            kept.append(group)
            if ref is not None:
                kept_refs[ref] = refs[ref]
            continue
        key = (str(group["status"]), ref is not None)
        other = merged.setdefault(
            key, {"tag": OTHER, "status": key[0], "count": 0, "tags": 0, "_ids": []}
        )
        other["count"] += group["count"]
        other["tags"] += 1
        if ref is not None:
            other["_ids"].extend(refs[ref])
    for (status, in_focus), other in sorted(merged.items()):
        ids = other.pop("_ids")
        if in_focus:
            ref = f"{GROUP_REF_PREFIX}{OTHER}:{status}"
            other["ref"] = ref
            kept_refs[ref] = tuple(ids)
        kept.append(other)
    return kept, kept_refs
