"""One entry of the events journal, as the dashboard's live view and API show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class JournalEvent:
    id: int
    at: datetime
    kind: str
    subject_type: str
    subject_id: str
    from_status: str | None = None
    to_status: str | None = None
    run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "run_id": self.run_id,
            "data": self.data,
        }
