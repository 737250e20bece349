"""Which role answers a request: read from the system prompt's role line.

Requests without one of our role lines are the CLI's side requests (titles, quota checks,
summaries); they get a short plain-text answer, or the smallest JSON that fits when they ask
for structured output. A role request answers from its payload; the
payload's ``kind`` must be the one the role expects, so a wiring mistake shows up as a plain
text answer instead of a confident wrong tool call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.domain.roles import Role
from orchestrator.sim.conversation import Conversation
from orchestrator.sim.deciders import global_agent, judge_agent, project_agent
from orchestrator.sim.escape import escape_agent
from orchestrator.sim.organizer import organizer_agent
from orchestrator.sim.reply import Reply, say
from orchestrator.sim.structured import schema_text
from orchestrator.sim.worker import worker_agent

#: The answer to side requests.
SIDE_REPLY = "OK."

_Agent = Callable[[Conversation, dict[str, Any]], Reply]

#: Each role's payload kind and state machine.
AGENTS: dict[Role, tuple[str, _Agent]] = {
    Role.WORKER: ("work_order", worker_agent),
    Role.GLOBAL: ("tracks_overview", global_agent),
    Role.PROJECT: ("choose_next", project_agent),
    Role.ORGANIZER: ("organize", organizer_agent),
    Role.JUDGE: ("judge", judge_agent),
}


def respond(conv: Conversation, worker_mode: str = "normal") -> Reply:
    """The next assistant turn for a conversation (``worker_mode="escape"``: ``sim.escape``)."""
    if conv.role is None:
        if conv.output_schema is not None:
            return say(schema_text(conv.output_schema))
        return say(SIDE_REPLY)
    if conv.payload_error is not None:
        return say(f"I cannot act: {conv.payload_error}.")
    if conv.payload is None:
        return say("I have no orchestrator payload to act on.")
    kind, agent = AGENTS[conv.role]
    if conv.role is Role.WORKER and worker_mode == "escape":
        agent = escape_agent
    if conv.payload.get("kind") != kind:
        return say(
            f"As the {conv.role.value} agent I expect a {kind!r} payload, "
            f"not {conv.payload.get('kind')!r}."
        )
    return agent(conv, conv.payload)
