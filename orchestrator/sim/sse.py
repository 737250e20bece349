"""Server-sent events of the streaming Messages API, built from a complete message.

The event order is the API's: message_start, ping, then per content block
content_block_start / content_block_delta... / content_block_stop, then message_delta (stop
reason, output tokens) and message_stop. Text and tool input are split into several deltas, as
the real service does, so clients that only handle a single delta get caught in tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

TEXT_CHUNK = 48
JSON_CHUNK = 64


def encode_event(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def message_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs that stream ``message``, a full message from ``build_message``."""
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    # Like the API: message_start reports the input tokens and a placeholder output count.
    start["usage"] = dict(message["usage"], output_tokens=1)
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block)
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _block_events(index: int, block: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if block["type"] == "text":
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        )
        for piece in _chunks(block["text"], TEXT_CHUNK):
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
    else:
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {
                    "type": "tool_use",
                    "id": block["id"],
                    "name": block["name"],
                    "input": {},
                },
            },
        )
        for piece in _chunks(json.dumps(block["input"], ensure_ascii=False), JSON_CHUNK):
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def cut_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The beginning of the stream, up to the first delta: what a cut connection delivers."""
    for event, data in message_events(message):
        if event == "message_delta":
            return
        yield event, data
        if event == "content_block_delta":
            return


def _chunks(text: str, size: int) -> Iterator[str]:
    if not text:
        yield ""
        return
    for start in range(0, len(text), size):
        yield text[start : start + size]
