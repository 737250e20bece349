"""Answers for requests that ask for structured output (``output_config.format``).

The CLI's side requests (a session title, for one) may demand JSON that fits a schema; a
plain "OK." would fail their parsing. The simulator answers with the smallest instance of the
schema instead. Only the JSON Schema subset such requests use is covered: objects with
required properties, strings (enums: the first value), numbers, booleans, arrays, null.
"""

from __future__ import annotations

import json
from typing import Any

#: What a string field gets; the title request reads it as the session's name.
PLACEHOLDER = "Simulated session"

_MAX_DEPTH = 8


def output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the request asks its answer to follow, if any."""
    for key in ("output_config", "output_format"):
        config = body.get(key)
        if not isinstance(config, dict):
            continue
        fmt = config.get("format", config)
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = fmt.get("schema")
            if isinstance(schema, dict):
                return schema
    return None


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(instance(schema))


def instance(schema: Any, depth: int = 0) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return instance(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        return {name: instance(props.get(name, {}), depth + 1) for name in required}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        return max(0, schema.get("minimum", 0)) if kind == "integer" else 0
    if kind == "boolean":
        return False
    if kind == "string":
        return PLACEHOLDER
    return None
