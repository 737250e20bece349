"""A short account of an agent session from its transcript, to seed a fresh session.

Used when a session cannot be resumed (its transcript is gone from both the CLI and our
store's reach, or the CLI refuses it): the new session is told what the old one did.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Characters of summary handed to the fresh session.
MAX_SUMMARY_CHARS = 4000


def summarize_transcript(entries: Iterable[dict[str, Any]], limit: int = MAX_SUMMARY_CHARS) -> str:
    """One line per assistant action (tool calls with their target, short texts)."""
    lines: list[str] = []
    for entry in entries:
        if entry.get("type") != "assistant":
            continue
        message = entry.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                raw = block.get("input")
                args: dict[str, Any] = raw if isinstance(raw, dict) else {}
                target = args.get("file_path") or args.get("command") or args.get("status") or ""
                lines.append(f"- called {block.get('name')} {str(target)[:160]}".rstrip())
            elif block.get("type") == "text" and str(block.get("text", "")).strip():
                lines.append(f"- said: {str(block['text']).strip()[:200]}")
    text = "\n".join(lines) or "- (no actions recorded)"
    if len(text) > limit:
        text = "...\n" + text[-limit:]
    return text
