"""Checkpoint records and their checksum.

A checkpoint holds what is needed to resume a track exactly: the session, the WO and attempt,
the worktree HEAD, and the snapshot commit of uncommitted work. The checksum is a sha256 over
the canonical JSON of those fields; a record whose checksum does not match was damaged and is
skipped in favour of the previous good one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass(frozen=True)
class CheckpointRecord:
    track_id: str
    run_id: str | None
    wo_id: str | None
    attempt: int
    session_id: str | None
    head_sha: str | None
    snapshot_ref: str | None
    snapshot_sha: str | None
    cost_usd: float
    reason: str

    def checksum(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def verify(self, checksum: str) -> bool:
        return self.checksum() == checksum


@dataclass(frozen=True)
class Checkpoint:
    """A stored checkpoint: its record's fields, the checksum stored with it, its id."""

    id: int
    track_id: str
    run_id: str | None
    wo_id: str | None
    attempt: int
    session_id: str | None
    head_sha: str | None
    snapshot_ref: str | None
    snapshot_sha: str | None
    cost_usd: float
    reason: str
    checksum: str
    created_at: datetime
