"""The organizer: groups work orders by their first tag into a track proposal.

Initial and reorg modes propose the whole top-level structure (reusing an existing track when
its name matches a group); incremental mode only places WOs that have no track yet. The
proposal never has more top-level tracks than the payload allows: the smallest groups merge
into one catch-all track. A rejected proposal gets one corrected attempt, with the limit named
in the error when there is one, else one track fewer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.sim.conversation import Conversation
from orchestrator.sim.fields import as_int, objects, strings
from orchestrator.sim.reply import Reply, say
from orchestrator.sim.tooluse import first_line, mcp, mcp_calls, use

DEFAULT_MAX_TOP_LEVEL = 8
UNTAGGED = "general"
CATCH_ALL = "other"

#: Attempts at propose_tracks per prompt: the first one and one correction.
_ATTEMPTS = 2

_LIMIT_RE = re.compile(r"(?:at most|maximum(?: of)?|max(?:imum)?|limit(?: of| is)?)\s*(\d+)", re.I)
_SLUG_RE = re.compile(r"[^a-z0-9]+")

_TYPE_BY_TAG: dict[str, str] = {
    "bug": "fix",
    "bugs": "fix",
    "fix": "fix",
    "bugfix": "fix",
    "refactor": "refactor",
    "cleanup": "refactor",
    "test": "testing",
    "tests": "testing",
    "testing": "testing",
    "docs": "documentation",
    "doc": "documentation",
    "documentation": "documentation",
    "security": "security",
    "perf": "performance",
    "performance": "performance",
    "experiment": "experiment",
    "migration": "migration",
    "chore": "maintenance",
    "deps": "maintenance",
    "maintenance": "maintenance",
}


def slug(text: str) -> str:
    """A track key matching ``^[a-z0-9][a-z0-9-]{0,63}$``."""
    value = _SLUG_RE.sub("-", text.lower()).strip("-")[:64].strip("-")
    return value or UNTAGGED


@dataclass
class _Group:
    key: str
    label: str
    wo_ids: list[str] = field(default_factory=list)
    existing: bool = False


def organizer_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    limit = as_int(payload.get("max_top_level_tracks"), DEFAULT_MAX_TOP_LEVEL)
    made = [e for e in mcp_calls(conv, "propose_tracks") if e.result is not None]
    if made and made[-1].ok:
        tracks = objects(made[-1].input.get("tracks"), key=None)
        assigned = objects(made[-1].input.get("assignments"), key=None)
        return say(f"Proposed {len(tracks)} tracks and {len(assigned)} assignments for review.")
    if len(made) >= _ATTEMPTS:
        return say(f"propose_tracks was rejected again: {first_line(made[-1].result)}")
    if made:
        limit = _corrected_limit(made[-1].result or "", made[-1].input, limit)
    proposal = propose(payload, limit)
    if not proposal["assignments"] and not proposal["tracks"]:
        return say("There are no work orders to organize.")
    reply = use(conv, [mcp("propose_tracks", proposal)])
    if reply is None:
        return say("The propose_tracks tool is not available to me.")
    return reply


def propose(payload: dict[str, Any], limit: int) -> dict[str, Any]:
    """The propose_tracks input for a payload, with at most ``limit`` top-level tracks."""
    limit = max(1, limit)
    tracks = objects(payload.get("tracks"))
    items = _work_items(payload)
    if str(payload.get("mode", "initial")) == "incremental":
        return _incremental(tracks, items, limit)
    return _full(tracks, items, limit)


def _full(tracks: list[dict[str, Any]], items: list[tuple[str, str]], limit: int) -> dict[str, Any]:
    groups: dict[str, _Group] = {}
    for wo_id, tag in items:
        key = slug(tag)
        groups.setdefault(key, _Group(key=key, label=tag)).wo_ids.append(wo_id)
    ranked = sorted(groups.values(), key=lambda g: (-len(g.wo_ids), g.key))
    recommendations: list[str] = []
    if len(ranked) > limit:
        kept, merged = ranked[: limit - 1], ranked[limit - 1 :]
        catch_all = _Group(key=_free_key(CATCH_ALL, {g.key for g in kept}), label=CATCH_ALL)
        for group in merged:
            catch_all.wo_ids.extend(group.wo_ids)
        names = ", ".join(g.label for g in merged)
        recommendations.append(
            f"Merged the smallest groups ({names}) into '{catch_all.key}' to stay within "
            f"{limit} top-level tracks; split it into sub-tracks if it grows."
        )
        ranked = [*kept, catch_all]
    reused: set[str] = set()
    for group in ranked:
        match = _matching_track(tracks, group.label, top_level_only=True)
        if match is not None and str(match["id"]) not in reused:
            group.key, group.existing = str(match["id"]), True
            reused.add(group.key)
    # A new track's key must not collide with a track that exists (or is reused) already.
    taken = {str(t["id"]) for t in tracks} | {g.key for g in ranked if g.existing}
    for group in ranked:
        if not group.existing:
            group.key = _free_key(group.key, taken)
            taken.add(group.key)
    return {
        "tracks": [_track_entry(g, tracks) for g in ranked],
        "assignments": [{"wo_id": w, "tracks": [g.key]} for g in ranked for w in g.wo_ids],
        "recommendations": recommendations,
    }


def _incremental(
    tracks: list[dict[str, Any]], items: list[tuple[str, str]], limit: int
) -> dict[str, Any]:
    top_level = [t for t in tracks if not t.get("parent")]
    if not top_level:
        return _full(tracks, items, limit)
    taken = {str(t["id"]) for t in tracks}
    new: dict[str, _Group] = {}
    assignments: list[dict[str, Any]] = []
    for wo_id, tag in items:
        match = _matching_track(tracks, tag, top_level_only=False)
        if match is not None:
            assignments.append({"wo_id": wo_id, "tracks": [str(match["id"])]})
            continue
        group = new.get(slug(tag))
        if group is None:
            group = new[slug(tag)] = _Group(key=_free_key(slug(tag), taken), label=tag)
            taken.add(group.key)
        group.wo_ids.append(wo_id)
        assignments.append({"wo_id": wo_id, "tracks": [group.key]})
    # New tracks beyond the top-level limit become sub-tracks of the largest existing track.
    room = max(0, limit - len(top_level))
    parent = _largest(top_level)
    entries: list[dict[str, Any]] = []
    recommendations: list[str] = []
    for position, group in enumerate(new.values()):
        entry = _track_entry(group, tracks)
        if position >= room:
            entry["parent"] = parent
            recommendations.append(
                f"'{group.key}' is proposed as a sub-track of {parent}: the project already "
                f"has {len(top_level)} top-level tracks (limit {limit})."
            )
        entries.append(entry)
    return {"tracks": entries, "assignments": assignments, "recommendations": recommendations}


def _work_items(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(wo id, first tag) of the WOs to place; in incremental mode only the unassigned ones."""
    incremental = str(payload.get("mode", "initial")) == "incremental"
    items: list[tuple[str, str]] = []
    for wo in objects(payload.get("work_orders")):
        if incremental and wo.get("tracks"):
            continue
        tags = strings(wo.get("tags"))
        items.append((str(wo["id"]), tags[0] if tags else UNTAGGED))
    seen = {wo_id for wo_id, _ in items}
    # Over the token budget the payload carries compressed groups; their shape is read loosely.
    for group in objects(payload.get("groups"), key=None):
        label = str(group.get("tag") or group.get("name") or group.get("key") or UNTAGGED)
        members = group.get("wo_ids") or group.get("ids") or group.get("work_orders")
        if not members and group.get("ref"):
            # A group listed only by count: its ref stands for all of its WOs.
            members = [str(group["ref"])]
        for member in members if isinstance(members, list) else []:
            wo_id = str(member.get("id") or "") if isinstance(member, dict) else str(member)
            if wo_id and wo_id not in seen:
                seen.add(wo_id)
                items.append((wo_id, label))
    return items


def _matching_track(
    tracks: list[dict[str, Any]], tag: str, *, top_level_only: bool
) -> dict[str, Any] | None:
    """An existing track for a tag: same slug as its name, then the tag as a word of its name
    or goal. First match in payload order, so the answer is stable."""
    wanted = slug(tag)
    candidates = [t for t in tracks if not (top_level_only and t.get("parent"))]
    for track in candidates:
        if slug(str(track.get("name", ""))) == wanted or str(track["id"]) == wanted:
            return track
    for track in candidates:
        words = set(slug(f"{track.get('name', '')} {track.get('goal', '')}").split("-"))
        if wanted in words:
            return track
    return None


def _track_entry(group: _Group, tracks: list[dict[str, Any]]) -> dict[str, Any]:
    if group.existing:
        track = next(t for t in tracks if str(t["id"]) == group.key)
        return {
            "key": group.key,
            "name": str(track.get("name") or group.label),
            "goal": str(track.get("goal") or f"Work orders tagged '{group.label}'."),
            "parent": None,
        }
    name = group.label.replace("-", " ").replace("_", " ").strip().title() or group.key
    return {
        "key": group.key,
        "name": name,
        "goal": f"Carry out the work orders tagged '{group.label}'.",
        "type": _TYPE_BY_TAG.get(group.key, "feature"),
        "parent": None,
        "status": "draft",
    }


def _free_key(base: str, taken: set[str]) -> str:
    key, n = base, 2
    while key in taken:
        key = f"{base[:60]}-{n}"
        n += 1
    return key


def _largest(tracks: list[dict[str, Any]]) -> str:
    best = min(tracks, key=lambda t: (-as_int(t.get("wo_count"), 0), str(t["id"])))
    return str(best["id"])


def _corrected_limit(error: str, rejected: dict[str, Any], limit: int) -> int:
    match = _LIMIT_RE.search(error)
    if match:
        return max(1, int(match.group(1)))
    top = [t for t in objects(rejected.get("tracks"), key=None) if not t.get("parent")]
    return max(1, min(limit, len(top)) - 1)
