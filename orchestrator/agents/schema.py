"""A small JSON Schema validator for the subset our tool contracts use.

The SDK validates tool input with ``jsonschema`` before our handler runs, but the handler
validates again so every path that reaches a ``ToolHandler`` (the ``FakeRuntime`` too) gets
the same check and the same error text. The subset is deliberately small; an unsupported
keyword in a contract is an error at import time in the tests, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUPPORTED_KEYWORDS = frozenset(
    {"type", "properties", "required", "items", "enum", "minimum", "maximum", "description"}
)

_TYPE_CHECKS: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def unsupported_keywords(schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Every keyword in ``schema`` (recursively) that ``validate`` would not enforce."""
    found = [f"{path}.{key}" for key in schema if key not in SUPPORTED_KEYWORDS]
    for name, sub in (schema.get("properties") or {}).items():
        found += unsupported_keywords(sub, f"{path}.properties.{name}")
    if isinstance(schema.get("items"), Mapping):
        found += unsupported_keywords(schema["items"], f"{path}.items")
    return found


def _is_type(value: Any, name: str) -> bool:
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) and name in ("number", "integer"):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPE_CHECKS[name])


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def validate(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Human-readable problems of ``value`` against ``schema``; empty when it is valid."""
    where = path or "input"
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_is_type(value, n) for n in names):
            return [f"{where}: expected {' or '.join(names)}, got {_json_type(value)}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(c) for c in schema["enum"])
        errors.append(f"{where}: {value!r} is not one of {choices}")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is more than the maximum {schema['maximum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                errors.append(f"{where}: missing required field {key!r}")
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                errors += validate(value[key], sub, f"{path}.{key}" if path else key)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{index}]")
    return errors
