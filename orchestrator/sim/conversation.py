"""Read a Messages API request into what a role's state machine needs to decide its next step.

The roles never look at raw JSON: they see the role line, the payload, the tools on offer and
every tool call made so far with its result. Deciding from the whole history (not from server
state) is what lets a resumed session continue where it left off.

Shapes the bundled CLI sends (learned from its requests):
- ``system`` is a list of text blocks; ours is one of them, next to a billing header and the
  SDK's preamble.
- the first user message holds several ``<system-reminder>`` text blocks (environment with
  "Primary working directory", deferred tool names) and then our prompt as the last text block.
- tool results come back in user messages as ``tool_result`` blocks, sometimes with text blocks
  ("Tool loaded.", reminders) beside them; ``is_error`` is absent on success.
- tools not in ``tools`` may be "deferred": named in a reminder and loadable with ToolSearch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.payload import find_payload, find_role
from orchestrator.domain.roles import Role
from orchestrator.sim.structured import output_schema

_CWD_RE = re.compile(r"Primary working directory: (\S[^\n]*)")
_DEFERRED_MARK = "deferred tools are now available"
_TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


class RequestError(ValueError):
    """The request is not a valid Messages API request (answered with status 400)."""


@dataclass(frozen=True)
class Exchange:
    """One tool call the assistant made and the result it got (``result`` None: none yet)."""

    id: str
    name: str
    input: dict[str, Any]
    segment: int
    result: str | None = None
    is_error: bool = False

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.is_error


@dataclass(frozen=True)
class Conversation:
    """A request as a role sees it.

    ``segment`` counts user prompts: a resumed session that gets a new prompt starts a new
    segment, so per-prompt steps (report once per prompt) can tell old calls from new ones.
    """

    model: str
    stream: bool
    system: str
    role: Role | None
    payload: dict[str, Any] | None
    payload_error: str | None
    tools: frozenset[str]
    deferred_tools: frozenset[str]
    exchanges: tuple[Exchange, ...]
    segment: int
    assistant_turns: int
    message_count: int
    cwd: str | None
    output_schema: dict[str, Any] | None = None

    def calls(self, name: str, *, current: bool = True) -> list[Exchange]:
        """The calls of a tool, by default only those made for the current prompt."""
        return [
            e
            for e in self.exchanges
            if e.name == name and (not current or e.segment == self.segment)
        ]


def parse_request(body: Any) -> Conversation:
    """Validate the request body and read it; raises RequestError on a malformed request."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: field required and must be a non-empty list")
    model = body.get("model", "claude-sim")
    if not isinstance(model, str) or not model:
        raise RequestError("model: must be a non-empty string")
    system = _system_text(body.get("system"))
    tools = _tool_names(body.get("tools"))

    exchanges: list[Exchange] = []
    index: dict[str, int] = {}
    user_texts: list[str] = []
    payload: dict[str, Any] | None = None
    payload_error: str | None = None
    segment = -1
    assistant_turns = 0
    previous_was_prompt = False
    for position, message in enumerate(messages):
        role, blocks = _message(message, position)
        if role == "system":
            # The CLI sends its environment notes as a system-role message when a custom
            # system prompt replaces its own; they are context, not a turn.
            system += "\n" + "\n".join(str(b.get("text", "")) for b in blocks)
            continue
        if role == "assistant":
            assistant_turns += 1
            for block in blocks:
                if block.get("type") == "tool_use":
                    call_id = str(block.get("id", ""))
                    raw_input = block.get("input")
                    index[call_id] = len(exchanges)
                    exchanges.append(
                        Exchange(
                            id=call_id,
                            name=str(block.get("name", "")),
                            input=raw_input if isinstance(raw_input, dict) else {},
                            segment=max(segment, 0),
                        )
                    )
        else:
            has_results = any(b.get("type") == "tool_result" for b in blocks)
            # Consecutive prompt messages (e.g. an interruption note, then a new prompt) are one
            # prompt; a prompt after an answer or after tool results starts a new one.
            if not has_results and not previous_was_prompt:
                segment += 1
            for block in blocks:
                kind = block.get("type")
                if kind == "tool_result":
                    _attach_result(exchanges, index, block)
                elif kind == "text" and isinstance(block.get("text"), str):
                    text = block["text"]
                    user_texts.append(text)
                    # The latest payload wins: a resumed session may get a fresh one.
                    if not has_results:
                        try:
                            found = find_payload(text)
                        except ValidationError as exc:
                            payload_error = str(exc)
                        else:
                            if found is not None:
                                payload, payload_error = found, None
        previous_was_prompt = role == "user" and not any(
            b.get("type") == "tool_result" for b in blocks
        )

    return Conversation(
        model=model,
        stream=bool(body.get("stream", False)),
        system=system,
        role=find_role(system),
        payload=payload,
        payload_error=payload_error,
        tools=tools,
        deferred_tools=_deferred_tools(user_texts),
        exchanges=tuple(exchanges),
        segment=max(segment, 0),
        assistant_turns=assistant_turns,
        message_count=len(messages),
        cwd=_cwd(user_texts),
        output_schema=output_schema(body),
    )


def _message(message: Any, position: int) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(message, dict):
        raise RequestError(f"messages.{position}: must be an object")
    role = message.get("role")
    if role not in ("user", "assistant", "system"):
        raise RequestError(f"messages.{position}.role: must be 'user', 'assistant' or 'system'")
    content = message.get("content")
    if isinstance(content, str):
        return role, [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise RequestError(f"messages.{position}.content: must be a string or a list")
    blocks = [b for b in content if isinstance(b, dict)]
    if len(blocks) != len(content):
        raise RequestError(f"messages.{position}.content: every block must be an object")
    return role, blocks


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(
            str(b.get("text", ""))
            for b in system
            if isinstance(b, dict) and b.get("type") == "text"
        )
    raise RequestError("system: must be a string or a list of text blocks")


def _tool_names(tools: Any) -> frozenset[str]:
    if tools is None:
        return frozenset()
    if not isinstance(tools, list):
        raise RequestError("tools: must be a list")
    return frozenset(str(t["name"]) for t in tools if isinstance(t, dict) and "name" in t)


def _attach_result(exchanges: list[Exchange], index: dict[str, int], block: dict[str, Any]) -> None:
    position = index.get(str(block.get("tool_use_id", "")))
    if position is None:
        return
    exchange = exchanges[position]
    exchanges[position] = Exchange(
        id=exchange.id,
        name=exchange.name,
        input=exchange.input,
        segment=exchange.segment,
        result=_result_text(block.get("content")),
        is_error=bool(block.get("is_error", False)),
    )


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_reference":
            # ToolSearch answers with references to the tools it loaded.
            parts.append(f"tool_reference:{block.get('tool_name', '')}")
    return "\n".join(parts)


def _deferred_tools(texts: list[str]) -> frozenset[str]:
    names: set[str] = set()
    for text in texts:
        if _DEFERRED_MARK not in text:
            continue
        for line in text.splitlines():
            line = line.strip()
            if _TOOL_NAME_RE.match(line):
                names.add(line)
    return frozenset(names)


def _cwd(texts: list[str]) -> str | None:
    for text in texts:
        match = _CWD_RE.search(text)
        if match:
            return match.group(1).strip()
    return None
