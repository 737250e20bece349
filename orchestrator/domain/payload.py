"""The machine-readable part of every agent prompt.

Every session's system prompt starts with a role line and every user prompt carries one JSON
payload between markers. Real models read it as structured context; the simulator
(``orchestrator.sim``) reads it to play the role deterministically. Work order text only ever
travels inside the JSON payload, so it is data, never instructions to the orchestrator.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.roles import Role

ROLE_LINE_PREFIX = "orchestrator-role: "
PAYLOAD_OPEN = "<orch-payload>"
PAYLOAD_CLOSE = "</orch-payload>"

_ROLE_RE = re.compile(r"^orchestrator-role: ([a-z]+)\s*$", re.MULTILINE)
_PAYLOAD_RE = re.compile(
    re.escape(PAYLOAD_OPEN) + r"\n(.*?)\n" + re.escape(PAYLOAD_CLOSE), re.DOTALL
)


def role_line(role: Role) -> str:
    return f"{ROLE_LINE_PREFIX}{role.value}"


def render_payload(payload: dict[str, Any]) -> str:
    """The payload block as it appears in a user prompt (sorted keys: stable prompts)."""
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    # A payload can never close its own block early: JSON escapes '<' inside strings.
    body = body.replace("<", "\\u003c")
    return f"{PAYLOAD_OPEN}\n{body}\n{PAYLOAD_CLOSE}"


def find_role(text: str) -> Role | None:
    """The role named in a system prompt, or None when the text carries no role line."""
    match = _ROLE_RE.search(text)
    if match is None:
        return None
    try:
        return Role(match.group(1))
    except ValueError:
        return None


def find_payload(text: str) -> dict[str, Any] | None:
    """The first payload block in ``text``, or None when there is none."""
    match = _PAYLOAD_RE.search(text)
    if match is None:
        return None
    try:
        value = json.loads(match.group(1))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"malformed payload block: {exc}") from exc
    if not isinstance(value, dict):
        raise ValidationError("payload block is not a JSON object")
    return value
