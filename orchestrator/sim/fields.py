"""Reading payload fields defensively: a payload is data from outside, so any shape may come.

A wrong shape must give a sensible answer (usually "nothing to do"), never an exception.
"""

from __future__ import annotations

from typing import Any


def objects(value: Any, *, key: str | None = "id") -> list[dict[str, Any]]:
    """The dict items of a list (with a truthy ``key``, when given); [] for anything else."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict) and (key is None or v.get(key))]


def strings(value: Any) -> list[str]:
    """The non-empty scalar items of a list, as strings; [] for anything else."""
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if isinstance(v, str | int | float) and str(v).strip()]


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default
