"""Checkpoints: written at every WO boundary and interruption, verified before any restore."""

from __future__ import annotations

from dataclasses import asdict

from sqlmodel import col, func, select

from orchestrator.domain.checkpoint import Checkpoint, CheckpointRecord
from orchestrator.store.base import StoreBase
from orchestrator.store.hosts import aware
from orchestrator.store.tables import CheckpointRow


def _record(row: CheckpointRow) -> CheckpointRecord:
    return CheckpointRecord(
        track_id=row.track_id,
        run_id=row.run_id,
        wo_id=row.wo_id,
        attempt=row.attempt,
        session_id=row.session_id,
        head_sha=row.head_sha,
        snapshot_ref=row.snapshot_ref,
        snapshot_sha=row.snapshot_sha,
        cost_usd=row.cost_usd,
        reason=row.reason,
    )


class CheckpointQueries(StoreBase):
    def next_checkpoint_number(self, track_id: str) -> int:
        """Checkpoints of a track are numbered from 1 (0 is kept for the archive snapshot)."""
        with self.reading() as session:
            count = session.exec(
                select(func.count())
                .select_from(CheckpointRow)
                .where(CheckpointRow.track_id == track_id)
            ).one()
        return int(count) + 1

    def last_checkpoint_id(self, track_id: str) -> int | None:
        """The id of the track's newest checkpoint (None: it has none)."""
        with self.reading() as session:
            newest = session.exec(
                select(func.max(CheckpointRow.id)).where(CheckpointRow.track_id == track_id)
            ).one()
        return int(newest) if newest is not None else None

    def add_checkpoint(self, record: CheckpointRecord) -> Checkpoint:
        with self.writing() as session:
            row = CheckpointRow(
                track_id=record.track_id,
                run_id=record.run_id,
                wo_id=record.wo_id,
                attempt=record.attempt,
                session_id=record.session_id,
                head_sha=record.head_sha,
                snapshot_ref=record.snapshot_ref,
                snapshot_sha=record.snapshot_sha,
                cost_usd=record.cost_usd,
                reason=record.reason,
                checksum=record.checksum(),
            )
            session.add(row)
            session.flush()
            self.journal(
                session,
                "checkpoint",
                "track",
                record.track_id,
                run_id=record.run_id,
                wo=record.wo_id,
                reason=record.reason,
                checkpoint=row.id,
            )
            return checkpoint_of(row)

    def latest_good_checkpoint(self, track_id: str) -> tuple[Checkpoint | None, list[Checkpoint]]:
        """The newest checkpoint whose checksum verifies, and the corrupt ones skipped."""
        with self.reading() as session:
            rows = list(
                session.exec(
                    select(CheckpointRow)
                    .where(CheckpointRow.track_id == track_id)
                    .order_by(col(CheckpointRow.id).desc())
                )
            )
        corrupt: list[Checkpoint] = []
        for row in rows:
            if _record(row).verify(row.checksum):
                return checkpoint_of(row), corrupt
            corrupt.append(checkpoint_of(row))
        return None, corrupt


def checkpoint_of(row: CheckpointRow) -> Checkpoint:
    """The one conversion of a checkpoint row (a flushed one: its id is set)."""
    assert row.id is not None
    return Checkpoint(
        id=row.id,
        **asdict(_record(row)),
        checksum=row.checksum,
        created_at=aware(row.created_at),
    )
