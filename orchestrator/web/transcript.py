"""What a mirrored session transcript says, in a few short lines: tool calls and text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Input keys that say best what a tool call did, most telling first.
_TELLING_KEYS = ("file_path", "command", "pattern", "path", "url", "description")
EXCERPT_CHARS = 300


def _blocks(entry: dict[str, Any]) -> list[dict[str, Any]]:
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _tool_line(block: dict[str, Any]) -> str:
    raw = block.get("input")
    given = raw if isinstance(raw, dict) else {}
    detail = next((str(given[k]) for k in _TELLING_KEYS if k in given), "")
    if not detail and given:
        detail = ", ".join(sorted(given))
    return f"{block.get('name', '?')}: {detail}"[:EXCERPT_CHARS]


def tool_calls(entries: Sequence[dict[str, Any]], last: int = 5) -> list[str]:
    """The latest ``last`` tool calls of a session, oldest first."""
    calls = [
        _tool_line(b)
        for e in entries
        if e.get("type") == "assistant"
        for b in _blocks(e)
        if b.get("type") == "tool_use"
    ]
    return calls[-last:]


def excerpt(entries: Sequence[dict[str, Any]], last: int = 12) -> list[dict[str, str]]:
    """The end of a session: who said or did what, each line cut short."""
    lines: list[dict[str, str]] = []
    for entry in entries:
        who = entry.get("type")
        if who not in ("assistant", "user"):
            continue
        for block in _blocks(entry):
            kind = block.get("type")
            if kind == "text" and str(block.get("text", "")).strip():
                lines.append({"who": str(who), "text": str(block["text"])[:EXCERPT_CHARS]})
            elif kind == "tool_use":
                lines.append({"who": "tool call", "text": _tool_line(block)})
            elif kind == "tool_result":
                content = block.get("content")
                text = content if isinstance(content, str) else str(content or "")
                lines.append({"who": "tool result", "text": text[:EXCERPT_CHARS]})
    return lines[-last:]
