"""The decision roles that make one call per prompt: global, project and judge agents."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.sim.conversation import Conversation
from orchestrator.sim.fields import as_int, obj, objects, strings
from orchestrator.sim.reply import Reply, say
from orchestrator.sim.tooluse import decide_once, first_line, mcp, mcp_calls, use

#: Track statuses that get weight 0: nothing should run on them now.
_IDLE_STATUSES = frozenset({"paused", "blocked", "completed", "archived", "cancelled", "failed"})

#: Priority 1 (highest) gets this weight, each lower priority one less, never below 1.
_TOP_WEIGHT = 5

_WO_ID_RE = re.compile(r"WO-\d{4}-\d{3,}")

#: How often the project agent tries again after choose_work_orders rejected its choice.
_PROJECT_RETRIES = 1


def _priority(value: Any, default: int = 3) -> int:
    return as_int(value, default)


def track_weight(track: dict[str, Any]) -> int:
    if str(track.get("status", "")).lower() in _IDLE_STATUSES or track.get("blocked_reason"):
        return 0
    return max(1, _TOP_WEIGHT + 1 - _priority(track.get("priority")))


def global_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    tracks = objects(payload.get("tracks"))
    if not tracks:
        return say("There are no tracks to weigh.")
    weights: list[dict[str, Any]] = [
        {"track_id": str(t["id"]), "weight": track_weight(t)} for t in tracks
    ]
    reason = (
        f"Weights follow track priority (priority 1 gets {_TOP_WEIGHT}, each lower priority "
        "one less); paused, blocked and finished tracks get 0."
    )
    active = sum(1 for w in weights if w["weight"] > 0)
    return decide_once(
        conv,
        "set_track_priorities",
        {"weights": weights, "reason": reason},
        done_text=f"Set weights for {len(weights)} tracks; {active} of them may run.",
    )


def order_ready(ready: list[dict[str, Any]]) -> list[str]:
    """Ready WO ids by priority then id, a WO after any ready WO it depends on."""
    ranked = sorted(ready, key=lambda w: (_priority(w.get("priority")), str(w["id"])))
    ids = {str(w["id"]) for w in ranked}
    chosen: list[str] = []
    pending = list(ranked)
    while pending:
        free = [
            n
            for n, wo in enumerate(pending)
            if set(strings(wo.get("depends_on"))) & ids <= set(chosen)
        ]
        # A dependency cycle leaves nothing free: fall back to plain priority order.
        chosen.append(str(pending.pop(free[0] if free else 0)["id"]))
    return chosen


def project_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    track_id = str(obj(payload.get("track")).get("id") or "")
    ready = objects(payload.get("ready_work_orders"))
    size = max(1, _priority(payload.get("queue_size"), default=1))
    if not track_id:
        return say("The payload names no track, so I cannot queue work orders.")
    ordered = order_ready(ready)
    # A rejected choice names the offending ids; leave them out and try once more.
    rejected: set[str] = set()
    made = [e for e in mcp_calls(conv, "choose_work_orders") if e.result is not None]
    for exchange in made:
        if exchange.is_error:
            rejected |= set(_WO_ID_RE.findall(exchange.result or ""))
    if made and made[-1].ok:
        queued = ", ".join(strings(made[-1].input.get("wo_ids")))
        return say(f"Queued {queued} on track {track_id}.")
    if made and (len(made) > _PROJECT_RETRIES or not rejected):
        return say(f"choose_work_orders was rejected: {first_line(made[-1].result)}")
    chosen = [i for i in ordered if i not in rejected][:size]
    if not chosen:
        return say(f"Track {track_id} has no ready work orders to queue.")
    reason = "Highest priority first (ties by id), dependencies before their dependents."
    reply = use(
        conv,
        [mcp("choose_work_orders", {"track_id": track_id, "wo_ids": chosen, "reason": reason})],
    )
    if reply is None:
        return say("The choose_work_orders tool is not available to me.")
    return reply


def _judge_key(candidate: dict[str, Any], sign: float) -> tuple[float, float, float]:
    """Best score first (by the direction), then the lower cost, then the smaller change."""
    score = candidate.get("score")
    number = float(score) if isinstance(score, int | float) else 0.0
    cost = candidate.get("cost_usd")
    lines = candidate.get("lines_changed")
    return (
        sign * number,
        float(cost) if isinstance(cost, int | float) else 0.0,
        float(lines) if isinstance(lines, int | float) else 0.0,
    )


def judge_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    candidates = objects(payload.get("candidates"), key="track_id")
    passed = [c for c in candidates if c.get("passed") is True and c.get("track_id")]
    if not passed:
        return say("No candidate passed its evaluation, so there is no winner.")
    sign = 1.0 if str(payload.get("direction", "max")) == "min" else -1.0
    # Stable sort: with equal keys (or no scores at all) the first candidate stays first.
    winner = sorted(passed, key=lambda c: _judge_key(c, sign))[0]
    track_id = str(winner["track_id"])
    if any(isinstance(c.get("score"), int | float) for c in passed):
        reason = (
            f"{track_id} has the best median among the candidates the measurement cannot "
            "separate, and costs no more than the others with that median; a smaller change "
            "breaks any remaining tie."
        )
    else:
        reason = f"{track_id} is the first candidate whose evaluation passed."
    return decide_once(
        conv,
        "pick_winner",
        {"winner_track_id": track_id, "reason": reason},
        done_text=f"The winner is {track_id}.",
    )
