"""JSON input schemas of the agents' MCP tools: the one contract between prompts, tools and sim.

Agents act only through these tools (never by free text that we parse). The runtime registers
them with these schemas; the simulator produces arguments that satisfy them; handlers validate
the arguments again against domain rules and return an error text to the agent when they fail.

Payload shapes carried by each role's prompt (see ``domain.payload``), keyed by ``kind``:

- worker ``work_order``: ``wo`` {id, title, goal, context, acceptance_criteria, non_goals,
  notes}, ``track`` {id, name, goal}, ``worktree``, ``check_command``, ``attempt``,
  ``previous_failure`` (str or null), ``recovery`` (str or null), ``experiment`` (null, or
  {id, variant, hypothesis} for a variant's copy of a WO: the hypothesis to follow).
- global ``tracks_overview``: ``tracks`` [{id, project, name, type, status, priority, weight,
  done, total, blocked_reason, cost_usd}] and ``budget_usd`` — never a WO id.
- project ``choose_next``: ``project``, ``directive`` {weights, reason}, ``track`` {id, name,
  goal}, ``ready_work_orders`` [{id, title, priority, tags, depends_on}], ``queue_size``.
- organizer ``organize``: ``mode``, ``project``, ``max_top_level_tracks``, ``tracks``
  [{id, name, goal, parent, wo_count}], ``work_orders`` [{id, title, tags, status, depends_on,
  tracks}] and/or ``groups`` (compressed summary when over the token budget).
- judge ``judge``: ``experiment``, ``metric``, ``direction``, ``close_call``, ``rule_pick``,
  ``candidates`` [{track_id, hypothesis, passed, score, scores, min, max, cost_usd,
  lines_changed, files_changed, eval_output}] (the candidates the measurement cannot
  separate).
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_STR_LIST = {"type": "array", "items": {"type": "string"}}

TOOL_DESCRIPTIONS: dict[str, str] = {
    "set_track_priorities": "Set the relative weight of every track (track-level only).",
    "set_track_budget": "Set a budget share in USD per track.",
    "choose_work_orders": "Queue the next work orders of one track, in the order to run them.",
    "create_work_order": "Create a new work order in this project.",
    "report_track_progress": "Report a track's progress (and a blocked reason, if any) upward.",
    "report_result": "Report the outcome of the work order you were given. Call exactly once.",
    "propose_tracks": "Propose the track structure and WO assignments for human review.",
    "pick_winner": "Pick the winning track of an experiment.",
}

TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "set_track_priorities": {
        "type": "object",
        "properties": {
            "weights": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"track_id": _STR, "weight": {"type": "number", "minimum": 0}},
                    "required": ["track_id", "weight"],
                },
            },
            "reason": _STR,
        },
        "required": ["weights", "reason"],
    },
    "set_track_budget": {
        "type": "object",
        "properties": {
            "budgets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"track_id": _STR, "usd": {"type": "number", "minimum": 0}},
                    "required": ["track_id", "usd"],
                },
            },
            "reason": _STR,
        },
        "required": ["budgets", "reason"],
    },
    "choose_work_orders": {
        "type": "object",
        "properties": {"track_id": _STR, "wo_ids": _STR_LIST, "reason": _STR},
        "required": ["track_id", "wo_ids", "reason"],
    },
    "create_work_order": {
        "type": "object",
        "properties": {
            "title": _STR,
            "goal": _STR,
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": _STR_LIST,
            "depends_on": _STR_LIST,
            "acceptance_criteria": _STR_LIST,
            "track_id": _STR,
        },
        "required": ["title", "goal"],
    },
    "report_track_progress": {
        "type": "object",
        "properties": {"track_id": _STR, "summary": _STR, "blocked_reason": _STR},
        "required": ["track_id", "summary"],
    },
    "report_result": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["done", "failed", "blocked"]},
            "summary": _STR,
            "files_changed": _STR_LIST,
        },
        "required": ["status", "summary"],
    },
    "propose_tracks": {
        "type": "object",
        "properties": {
            "tracks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": _STR,
                        "name": _STR,
                        "goal": _STR,
                        "type": _STR,
                        "parent": {"type": ["string", "null"]},
                        "status": _STR,
                    },
                    "required": ["key", "name", "goal"],
                },
            },
            "assignments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"wo_id": _STR, "tracks": _STR_LIST},
                    "required": ["wo_id", "tracks"],
                },
            },
            "recommendations": _STR_LIST,
        },
        "required": ["tracks", "assignments"],
    },
    "pick_winner": {
        "type": "object",
        "properties": {"winner_track_id": _STR, "reason": _STR},
        "required": ["winner_track_id", "reason"],
    },
}
