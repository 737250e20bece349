"""Time expressions the user types: ``--until HH:MM``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from orchestrator.domain.errors import ValidationError

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def next_time_of_day(hhmm: str, now: datetime) -> datetime:
    """The next moment at ``HH:MM`` (local to ``now``'s zone) after ``now``."""
    match = _HHMM.fullmatch(hhmm.strip())
    if match is None:
        raise ValidationError(f"invalid time {hhmm!r}: expected HH:MM (24-hour)")
    target = now.replace(
        hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0
    )
    if target <= now:
        target += timedelta(days=1)
    return target
