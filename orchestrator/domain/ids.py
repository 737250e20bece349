"""Validation of the names that become paths, branches and keys."""

from __future__ import annotations

import re

from orchestrator.domain.errors import ValidationError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
WO_ID_RE = re.compile(r"^WO-([0-9]{4})-([0-9]{3,})$")
#: Track ids are slugs too, so that they can name a branch and a directory.
TRACK_ID_RE = SLUG_RE


def validate_slug(value: object, what: str = "name") -> str:
    """A slug usable as a directory name and a git ref component, or ValidationError."""
    if not isinstance(value, str) or not SLUG_RE.fullmatch(value):
        raise ValidationError(
            f"invalid {what} {value!r}: use 1-64 characters a-z, 0-9, '-', not starting with '-'"
        )
    return value


def validate_wo_id(value: object) -> str:
    """A work order id of the form WO-YYYY-NNN, or ValidationError."""
    if not isinstance(value, str) or not WO_ID_RE.fullmatch(value):
        raise ValidationError(f"invalid work order id {value!r}: expected WO-YYYY-NNN")
    return value


def slugify(text: str, max_len: int = 48) -> str:
    """A slug derived from free text (for names the user did not give as slugs)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len].strip("-")
    return slug or "track"


def format_wo_id(year: int, number: int) -> str:
    return f"WO-{year:04d}-{number:03d}"


def parse_wo_id(wo_id: str) -> tuple[int, int]:
    match = WO_ID_RE.fullmatch(validate_wo_id(wo_id))
    assert match is not None
    return int(match.group(1)), int(match.group(2))
