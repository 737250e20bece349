"""Work that waits on the model backend rather than failing: parks and their resume times.

Three scopes: the whole run (no login, an unreachable backend: a human must act, then
``orch run``), new sessions (the rate limit is near, ``allowed_warning``: none starts until
the reset), and one session (a 429: it sleeps for the reset time, then goes on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class ParkScope(StrEnum):
    RUN = "run"
    NEW_SESSIONS = "new_sessions"
    SESSION = "session"


@dataclass(frozen=True)
class Park:
    scope: ParkScope
    #: The daemon id (run and new-session parks) or the agent run id (a session park).
    subject: str
    reason: str
    at: datetime
    #: When the work resumes by itself; None for a run park (it waits for a human).
    until: datetime | None = None
    delay_s: float | None = None
    track_id: str | None = None
    wo_id: str | None = None

    def line(self) -> str:
        """One line for `orch status` and the report."""
        where = " ".join(
            part
            for part in (
                f"track {self.track_id}" if self.track_id else "",
                f"wo {self.wo_id}" if self.wo_id else "",
            )
            if part
        )
        when = f" until {self.until:%H:%M:%S} UTC" if self.until is not None else ""
        subject = f"{self.scope.value}{' ' + where if where else ''}"
        return f"parked ({subject}){when}: {self.reason}"


def current_parks(parks: list[Park], daemon_live: bool, now: datetime | None = None) -> list[Park]:
    """What is parked now, from one run's parks (oldest first).

    A run park stands until the next daemon starts; a timed park while its daemon lives and
    its time has not come (a later park of the same subject replaces an earlier one).
    """
    moment = now or datetime.now(UTC)
    latest: dict[tuple[ParkScope, str], Park] = {}
    for park in parks:
        latest[(park.scope, park.subject)] = park
    return [
        park
        for park in latest.values()
        if park.scope is ParkScope.RUN
        or (daemon_live and park.until is not None and park.until > moment)
    ]
