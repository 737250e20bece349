"""What a role answers (text and tool calls) and how it becomes a Messages API message."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

#: Token estimate: about four characters of JSON per token. Good enough for cost reports and
#: budgets in tests; nobody should read it as the real tokenizer's count.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One assistant turn: optional text, then tool calls (the CLI runs them in parallel)."""

    text: str = ""
    calls: tuple[ToolCall, ...] = field(default_factory=tuple)

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.calls else "end_turn"


def say(text: str) -> Reply:
    return Reply(text=text)


def call(name: str, tool_input: dict[str, Any], text: str = "") -> Reply:
    return Reply(text=text, calls=(ToolCall(name, tool_input),))


def estimate_tokens(value: Any) -> int:
    """The documented estimate: ceil(len(compact JSON) / 4), at least 1."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def input_tokens(body: dict[str, Any]) -> int:
    """Input tokens of a request: what the model would read (system, tools, messages)."""
    return estimate_tokens({k: body.get(k) for k in ("system", "tools", "messages")})


def content_blocks(reply: Reply, salt: str) -> list[dict[str, Any]]:
    """The reply's content blocks; tool-use ids derive from ``salt`` and stay unique per turn."""
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for position, tool_call in enumerate(reply.calls):
        digest = hashlib.sha256(f"{salt}:{position}:{tool_call.name}".encode()).hexdigest()
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_sim{digest[:20]}",
                "name": tool_call.name,
                "input": tool_call.input,
            }
        )
    return blocks


def new_message_id() -> str:
    # Unique across sessions: the CLI groups streamed blocks by message id when it rebuilds a
    # transcript, so two answers must never share one.
    return f"msg_sim{uuid.uuid4().hex[:24]}"


def usage(input_count: int, output_count: int) -> dict[str, int]:
    return {
        "input_tokens": input_count,
        "output_tokens": output_count,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def build_message(
    reply: Reply, *, model: str, message_id: str, salt: str, input_count: int
) -> dict[str, Any]:
    """The full (non-streaming) message; the SSE stream is cut from the same object."""
    content = content_blocks(reply, salt)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": usage(input_count, output_tokens(content)),
    }


def output_tokens(content: list[dict[str, Any]]) -> int:
    """Output tokens: the text and the tool names and inputs the model would generate."""
    parts = [
        str(b.get("text", "")) if b["type"] == "text" else b["name"] + json.dumps(b["input"])
        for b in content
    ]
    return estimate_tokens("".join(parts))
