"""The text of ``orch review show``: a proposal as a diff against today, line by line.

The dashboard's review screen shows these very lines, so both say the same.
"""

from __future__ import annotations

from typing import Any

from orchestrator.domain.organization import Proposal, ProposalStatus
from orchestrator.domain.proposal_diff import ProposalDiff

#: Moves listed by name in `review show`; the rest are counted.
SHOWN_MOVES = 30


def review_lines(data: dict[str, Any], proposal: Proposal, diff: ProposalDiff | None) -> list[str]:
    lines = [
        f"Proposal {data['id']}  project {data['project']}  mode {data['mode']}  "
        f"{data['status'].upper()}  made {data['created_at'][:19]} "
        f"({data['trigger'] or 'manual'}, run {data['run_id']})"
    ]
    status = data["status"]
    if status == ProposalStatus.STALE.value:
        lines.append(
            "  STALE: the project changed since this proposal was made; it cannot be approved. "
            f"Re-run: orch organize --project {data['project']}"
        )
    elif status != ProposalStatus.PENDING.value:
        lines.append(f"  {status} at {str(data['decided_at'])[:19]}")
    if diff is None:
        return [*lines, *applied_lines(proposal)]
    lines.append("Tracks:")
    lines.extend(track_lines(proposal, diff) or ["  (no change to tracks)"])
    lines.append(
        f"Work orders: {diff.assigned} newly assigned, {len(diff.moved)} moved, "
        f"{diff.unchanged} unchanged, {diff.still_unassigned} still without a track"
    )
    for track, (joining, leaving) in diff.per_track.items():
        lines.append(f"  {track:<32} +{joining} -{leaving}")
    if diff.moved:
        lines.append("Moves:")
        for wo_id, before, after in diff.moved[:SHOWN_MOVES]:
            lines.append(f"  {wo_id}: {', '.join(before)} -> {', '.join(after)}")
        if len(diff.moved) > SHOWN_MOVES:
            lines.append(f"  ... and {len(diff.moved) - SHOWN_MOVES} more")
    if proposal.recommendations:
        lines.append("Reasons and recommendations:")
        lines.extend(f"  - {r}" for r in proposal.recommendations)
    if status == ProposalStatus.PENDING.value:
        lines.append(
            f"Approve: orch review approve {data['id']}    Reject: orch review reject {data['id']}"
        )
    return lines


def applied_lines(proposal: Proposal) -> list[str]:
    names = {t.key: t.name for t in proposal.tracks}
    per_track: dict[str, int] = {}
    for targets in proposal.assignments.values():
        for target in targets:
            name = names.get(target, target)
            per_track[name] = per_track.get(name, 0) + 1
    lines = ["Applied tracks:"]
    for track in proposal.tracks:
        where = f"under {names.get(track.parent, track.parent)}" if track.parent else "top level"
        kind = "existing" if track.existing else "new"
        lines.append(f"  {track.name}  ({kind}, {where}, {track.status})")
    lines.append(f"Applied assignments: {len(proposal.assignments)} work orders")
    lines.extend(f"  {name:<32} {n}" for name, n in sorted(per_track.items()))
    if proposal.recommendations:
        lines.append("Reasons and recommendations:")
        lines.extend(f"  - {r}" for r in proposal.recommendations)
    return lines


def track_lines(proposal: Proposal, diff: ProposalDiff) -> list[str]:
    lines: list[str] = []
    new_keys = {t.key: t for t in diff.added}
    names = {t.key: t.name for t in proposal.tracks}
    joining = {t: j for t, (j, _) in diff.per_track.items()}
    for track in diff.added:
        nested = track.parent in new_keys
        where = f"under {names.get(track.parent, track.parent)}" if track.parent else "top level"
        lines.append(
            f"  + {'  ' if nested else ''}{track.name}  ({track.type}, {track.status}, {where}, "
            f"{joining.get(track.name, 0)} WOs)  {track.goal}"
        )
    lines.extend(f"  ~ renamed {i}: {a} -> {b}" for i, a, b in diff.renamed)
    lines.extend(f"  ~ goal of {i}: {a!r} -> {b!r}" for i, a, b in diff.goals)
    for track_id, before, after in diff.reparented:
        if after is None:
            lines.append(f"  ^ promoted {track_id} to top level (was under {before})")
        else:
            lines.append(f"  ^ moved {track_id} under {after} (was {before or 'top level'})")
    lines.extend(f"  > merged {i} into {into}" for i, into in diff.merged)
    lines.extend(f"  < split {i} into {', '.join(into)}" for i, into in diff.split)
    merged = {i for i, _ in diff.merged}
    lines.extend(f"  - cancelled {i}" for i in diff.cancelled if i not in merged)
    return lines
