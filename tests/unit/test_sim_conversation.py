"""Reading requests: role, payload, tools, history segments; robustness on arbitrary payloads."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.payload import render_payload, role_line
from orchestrator.domain.roles import Role, allowed_tools
from orchestrator.sim import parse_request, respond
from orchestrator.sim.structured import PLACEHOLDER, instance
from orchestrator.sim.tooluse import TOOL_SEARCH


def body(messages: list[dict[str, Any]], system: Any = None, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": messages, "system": system, **extra}


def test_role_from_a_string_or_block_system_prompt() -> None:
    line = role_line(Role.JUDGE)
    user = [{"role": "user", "content": "hi"}]
    assert parse_request(body(user, f"intro\n{line}\nmore")).role is Role.JUDGE
    blocks = [{"type": "text", "text": "billing"}, {"type": "text", "text": line}]
    assert parse_request(body(user, blocks)).role is Role.JUDGE
    assert parse_request(body(user, "orchestrator-role: pirate")).role is None
    assert parse_request(body(user)).role is None


def test_payload_cwd_tools_and_deferred_tools() -> None:
    conv = parse_request(
        body(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": " - Primary working directory: /srv/wt\n"},
                        {
                            "type": "text",
                            "text": "The following deferred tools are now available via "
                            "ToolSearch:\nWebFetch\nmcp__orch__pick_winner\n</system-reminder>",
                        },
                        {"type": "text", "text": "Go.\n" + render_payload({"kind": "judge"})},
                    ],
                }
            ],
            tools=[{"name": "ToolSearch"}, {"name": "Read"}],
        )
    )
    assert conv.payload == {"kind": "judge"}
    assert conv.cwd == "/srv/wt"
    assert conv.tools == {"ToolSearch", "Read"}
    assert {"WebFetch", "mcp__orch__pick_winner"} <= conv.deferred_tools
    assert not conv.stream


def test_history_pairs_calls_with_results_and_counts_prompts() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": render_payload({"kind": "choose_next", "n": 1})},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "on it"},
                {"type": "tool_use", "id": "a", "name": "Read", "input": {"file_path": "/x"}},
                {"type": "tool_use", "id": "b", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "a",
                    "content": [{"type": "text", "text": "x"}],
                },
                {"type": "tool_result", "tool_use_id": "b", "content": "boom", "is_error": True},
                {"type": "text", "text": "a note next to the results is not a new prompt"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c", "name": "Write", "input": {}}],
        },
        {"role": "user", "content": "[Request interrupted by user]"},
        {"role": "user", "content": "Again.\n" + render_payload({"kind": "choose_next", "n": 2})},
    ]
    conv = parse_request(body(messages))
    read, bash, write = conv.exchanges
    assert (read.ok, read.result, read.segment) == (True, "x", 0)
    assert (bash.ok, bash.is_error, bash.result) == (False, True, "boom")
    assert (write.result, write.ok) == (None, False)
    assert conv.segment == 1
    assert conv.assistant_turns == 2
    assert conv.payload == {"kind": "choose_next", "n": 2}, "the latest payload wins"
    assert conv.calls("Read") == []
    assert conv.calls("Read", current=False) == [read]


def test_structured_side_request_gets_fitting_json() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "n": {"type": "integer", "minimum": 2},
            "mode": {"enum": ["a", "b"]},
            "tags": {"type": "array"},
            "skip": {"type": "string"},
        },
        "required": ["title", "n", "mode", "tags"],
    }
    request = body(
        [{"role": "user", "content": "name this"}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    reply = respond(parse_request(request))
    assert json.loads(reply.text) == {"title": PLACEHOLDER, "n": 2, "mode": "a", "tags": []}
    assert instance({"anyOf": [{"type": "boolean"}, {"type": "string"}]}) is False
    assert instance({"type": ["null", "number"]}) == 0


# -- robustness: any payload, any tool set --------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

KINDS = {
    Role.WORKER: "work_order",
    Role.GLOBAL: "tracks_overview",
    Role.PROJECT: "choose_next",
    Role.ORGANIZER: "organize",
    Role.JUDGE: "judge",
}

KEYS = [
    "wo",
    "track",
    "worktree",
    "check_command",
    "previous_failure",
    "tracks",
    "ready_work_orders",
    "queue_size",
    "mode",
    "max_top_level_tracks",
    "work_orders",
    "groups",
    "candidates",
]


@settings(max_examples=300, deadline=None)
@given(
    role=st.sampled_from(list(Role)),
    fields=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
    drop_tools=st.sets(st.integers(0, 9), max_size=4),
    results=st.lists(st.tuples(st.booleans(), st.text(max_size=30)), max_size=3),
    deferred=st.booleans(),
)
def test_any_payload_gets_an_answer_that_uses_only_offered_tools(
    role: Role,
    fields: dict[str, Any],
    drop_tools: set[int],
    results: list[tuple[bool, str]],
    deferred: bool,
) -> None:
    tools = [t for n, t in enumerate([*allowed_tools(role), TOOL_SEARCH]) if n not in drop_tools]
    prompt = render_payload({"kind": KINDS[role], **fields})
    if deferred:
        names = "\n".join(allowed_tools(role))
        prompt = (
            f"The following deferred tools are now available via ToolSearch:\n{names}\n{prompt}"
        )
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    request = body(messages, role_line(role), tools=[{"name": t} for t in tools])
    for is_error, text in results:
        reply = respond(parse_request(request))
        if not reply.calls:
            break
        ids = [f"t{len(messages)}-{n}" for n in range(len(reply.calls))]
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": i, "name": c.name, "input": c.input}
                    for i, c in zip(ids, reply.calls, strict=True)
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": i, "content": text, "is_error": is_error}
                    for i in ids
                ],
            }
        )
    reply = respond(parse_request(request))
    assert reply.text or reply.calls
    assert all(call.name in tools for call in reply.calls)
    json.dumps([c.input for c in reply.calls])  # always serialisable
