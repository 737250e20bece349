"""Reads and writes of planning: what can run next, queues, and the global directive."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from orchestrator.domain.dispatch import Directive
from orchestrator.domain.lifecycle import TrackStatus, WOStatus
from orchestrator.domain.track import Track
from orchestrator.store.base import StoreBase, driver_of
from orchestrator.store.domain_rows import directive_of, track_of
from orchestrator.store.tables import DirectiveRow, TrackRow, WOTrackRow

#: WO statuses that may still be started (dependencies permitting).
STARTABLE = (WOStatus.BACKLOG.value, WOStatus.READY.value)
#: WO statuses that still need work: a track with none of these left is finished.
UNFINISHED = (
    WOStatus.BACKLOG.value,
    WOStatus.READY.value,
    WOStatus.RUNNING.value,
    WOStatus.BLOCKED.value,
    WOStatus.FAILED.value,
)
STARTABLE_JSON = json.dumps(STARTABLE)
#: Startable WOs carried per track (in priority order): what a project agent chooses from.
#: The dispatch loop needs only whether there are any, so a huge backlog costs nothing.
STARTABLE_SHOWN = 50

# Every statement below reads a track's unfinished WOs from one index range of ``wo_tracks``
# (which mirrors each WO's status and priority, see its table), so planning grows with the
# backlog, never with the finished WOs or the journal. The plans are checked with EXPLAIN
# QUERY PLAN in tests/unit/test_planning.py; ``bench/bench_planning.py`` times them.

#: The WO ``l.wo_id`` waits: one of its dependencies is not done (or does not exist).
_BLOCKED = """EXISTS (
    SELECT 1 FROM wo_dependencies AS d
    LEFT JOIN work_orders AS dep INDEXED BY ix_work_orders_id_status ON dep.id = d.depends_on_id
    WHERE d.wo_id = l.wo_id AND coalesce(dep.status, '') <> 'done')"""

#: Per track (a JSON list of ids): its WOs by status (kept by triggers, see TrackWOCountRow).
_COUNTS_SQL = """
SELECT track_id, status, n FROM track_wo_counts
WHERE track_id IN (SELECT value FROM json_each(?)) AND n > 0"""

#: Per track: the cost of its runs (kept by triggers, see TrackCostRow).
_COSTS_SQL = """
SELECT track_id, cost_usd FROM track_costs
WHERE track_id IN (SELECT value FROM json_each(?))"""

#: One track's first ``?`` WOs in one startable status, by priority: an ordered index range
#: that stops after that many (blocked ones are stepped over).
_FIRST_STARTABLE_SQL = f"""
SELECT l.wo_priority, l.wo_id
FROM wo_tracks AS l INDEXED BY ix_wo_tracks_track_status_priority
WHERE l.track_id = ? AND l.wo_status = ? AND NOT {_BLOCKED}
ORDER BY l.wo_priority, l.wo_id
LIMIT ?"""

#: What a project agent is shown of the WOs given (``:wos``).
_SHOWN_SQL = """
SELECT w.id, w.title, w.priority, w.tags,
       (SELECT json_group_array(depends_on_id) FROM wo_dependencies WHERE wo_id = w.id)
FROM work_orders AS w
WHERE w.id IN (SELECT value FROM json_each(?))"""

#: For the tracks given: their startable-status WOs that wait, with each blocker.
_WAITING_SQL = """
SELECT l.track_id, l.wo_id, d.depends_on_id
FROM wo_tracks AS l INDEXED BY ix_wo_tracks_track_status_priority
JOIN wo_dependencies AS d ON d.wo_id = l.wo_id
LEFT JOIN work_orders AS dep INDEXED BY ix_work_orders_id_status ON dep.id = d.depends_on_id
WHERE l.track_id IN (SELECT value FROM json_each(?))
  AND l.wo_status IN (SELECT value FROM json_each(?))
  AND coalesce(dep.status, '') <> 'done'
ORDER BY l.track_id, l.wo_priority, l.wo_id, d.depends_on_id"""

#: Which of the WOs given (``:wos``) can start in the track given.
_STARTABLE_AMONG_SQL = f"""
SELECT l.wo_id FROM wo_tracks AS l
WHERE l.track_id = ?
  AND l.wo_id IN (SELECT value FROM json_each(?))
  AND l.wo_status IN (SELECT value FROM json_each(?))
  AND NOT {_BLOCKED}"""

# PostgreSQL's twins: the same questions, lists bound as arrays (its planner needs no hints).
_PG_BLOCKED = """EXISTS (
    SELECT 1 FROM wo_dependencies AS d
    LEFT JOIN work_orders AS dep ON dep.id = d.depends_on_id
    WHERE d.wo_id = l.wo_id AND coalesce(dep.status, '') <> 'done')"""


@dataclass(frozen=True)
class _Statements:
    counts: str
    costs: str
    first_startable: str
    shown: str
    waiting: str
    startable_among: str
    #: How a list of ids or statuses is bound: a JSON text for SQLite, an array for psycopg.
    ids: Callable[[Sequence[str]], Any]


_SQLITE = _Statements(
    _COUNTS_SQL,
    _COSTS_SQL,
    _FIRST_STARTABLE_SQL,
    _SHOWN_SQL,
    _WAITING_SQL,
    _STARTABLE_AMONG_SQL,
    lambda ids: json.dumps(list(ids)),
)
_POSTGRES = _Statements(
    counts="SELECT track_id, status, n FROM track_wo_counts WHERE track_id = ANY(%s) AND n > 0",
    costs="SELECT track_id, cost_usd FROM track_costs WHERE track_id = ANY(%s)",
    first_startable=f"""
SELECT l.wo_priority, l.wo_id FROM wo_tracks AS l
WHERE l.track_id = %s AND l.wo_status = %s AND NOT {_PG_BLOCKED}
ORDER BY l.wo_priority, l.wo_id
LIMIT %s""",
    shown="""
SELECT w.id, w.title, w.priority, w.tags,
       coalesce((SELECT json_agg(depends_on_id) FROM wo_dependencies WHERE wo_id = w.id),
                '[]'::json)
FROM work_orders AS w WHERE w.id = ANY(%s)""",
    waiting="""
SELECT l.track_id, l.wo_id, d.depends_on_id
FROM wo_tracks AS l
JOIN wo_dependencies AS d ON d.wo_id = l.wo_id
LEFT JOIN work_orders AS dep ON dep.id = d.depends_on_id
WHERE l.track_id = ANY(%s) AND l.wo_status = ANY(%s) AND coalesce(dep.status, '') <> 'done'
ORDER BY l.track_id, l.wo_priority, l.wo_id, d.depends_on_id""",
    startable_among=f"""
SELECT l.wo_id FROM wo_tracks AS l
WHERE l.track_id = %s AND l.wo_id = ANY(%s) AND l.wo_status = ANY(%s) AND NOT {_PG_BLOCKED}""",
    ids=list,
)


def _json(value: Any) -> Any:
    """A JSON column or aggregate: text from SQLite, already decoded from psycopg."""
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class TrackWork:
    """One track's state for dispatch: its startable WOs (dependencies done), in order."""

    track: Track
    #: The first startable WOs (as many as the caller asked for), by priority then id.
    startable: list[dict[str, Any]]
    unfinished: int
    total: int
    failed: int
    running: int
    cost_usd: float
    #: Startable-status WOs that wait on a dependency that is not done (id -> blockers);
    #: filled only for a track with nothing startable (it explains why the track is stuck).
    waiting: dict[str, list[str]]


def _first_startable(cursor: Any, sql: _Statements, track_id: str, shown: int) -> list[str]:
    """The track's first ``shown`` startable WO ids: the first of each startable status,
    merged by (priority, id)."""
    if shown <= 0:
        return []
    rows = [
        row
        for status in STARTABLE
        for row in cursor.execute(sql.first_startable, (track_id, status, shown)).fetchall()
    ]
    return [wo_id for _priority, wo_id in sorted(rows)[:shown]]


class PlanningQueries(StoreBase):
    def track_work(
        self,
        statuses: tuple[str, ...] = (TrackStatus.ACTIVE.value,),
        shown: int = 1,
        track_id: str | None = None,
    ) -> list[TrackWork]:
        """Per track in ``statuses`` (or the one track ``track_id``): its first ``shown``
        startable WOs (all dependencies done), counts and cost.

        The dispatch loop only asks whether a track has anything startable (``shown=1``);
        a project agent's choice needs more (``STARTABLE_SHOWN``).
        """
        with self.reading() as session:
            query = select(TrackRow).where(col(TrackRow.status).in_(statuses))
            if track_id is not None:
                query = query.where(TrackRow.id == track_id)
            tracks = list(session.exec(query))
            if not tracks:
                return []
            sql = self._planning_sql()
            cursor = driver_of(session).cursor()
            try:
                tracks_ids = sql.ids([t.id for t in tracks])
                by_status: dict[str, dict[str, int]] = {}
                for tid, status, n in cursor.execute(sql.counts, (tracks_ids,)).fetchall():
                    by_status.setdefault(tid, {})[status] = n
                costs = dict(cursor.execute(sql.costs, (tracks_ids,)).fetchall())
                first = {t.id: _first_startable(cursor, sql, t.id, shown) for t in tracks}
                stuck = sql.ids([tid for tid, ids in first.items() if not ids])
                waiting: dict[str, dict[str, list[str]]] = {}
                for tid, wo_id, blocker in cursor.execute(
                    sql.waiting, (stuck, sql.ids(STARTABLE))
                ).fetchall():
                    waiting.setdefault(tid, {}).setdefault(wo_id, []).append(blocker)
                wanted = sql.ids([wo_id for ids in first.values() for wo_id in ids])
                shown_wos = {
                    wo_id: {
                        "id": wo_id,
                        "title": title,
                        "priority": priority,
                        "tags": _json(tags),
                        "depends_on": _json(deps),
                    }
                    for wo_id, title, priority, tags, deps in cursor.execute(
                        sql.shown, (wanted,)
                    ).fetchall()
                }
            finally:
                cursor.close()
        result = []
        for track in tracks:
            status_counts = by_status.get(track.id, {})
            result.append(
                TrackWork(
                    track=track_of(track),
                    startable=[shown_wos[wo_id] for wo_id in first[track.id]],
                    unfinished=sum(status_counts.get(s, 0) for s in UNFINISHED),
                    total=sum(status_counts.values()),
                    failed=status_counts.get(WOStatus.FAILED.value, 0),
                    running=status_counts.get(WOStatus.RUNNING.value, 0),
                    cost_usd=float(costs.get(track.id, 0.0)),
                    waiting=waiting.get(track.id, {}),
                )
            )
        return result

    def startable_among(self, track_id: str, wo_ids: list[str]) -> set[str]:
        """Those of ``wo_ids`` that can start in the track now (status and dependencies)."""
        if not wo_ids:
            return set()
        sql = self._planning_sql()
        with self.reading() as session:
            rows = (
                driver_of(session)
                .execute(sql.startable_among, (track_id, sql.ids(wo_ids), sql.ids(STARTABLE)))
                .fetchall()
            )
            return {wo_id for (wo_id,) in rows}

    def _planning_sql(self) -> _Statements:
        return _POSTGRES if self.on_postgres else _SQLITE

    def ready_track_ids(self) -> list[str]:
        """Tracks offered to the daemon (``ready``) that have work, most important first.

        A track without WOs or sub-tracks stays offered, not activated: it would hold a
        worktree and stay active with nothing to do.
        """
        child = aliased(TrackRow)
        has_wo = exists().where(col(WOTrackRow.track_id) == col(TrackRow.id))
        has_child = exists().where(col(child.parent_track_id) == col(TrackRow.id))
        with self.reading() as session:
            query = (
                select(TrackRow.id)
                .where(TrackRow.status == TrackStatus.READY.value, or_(has_wo, has_child))
                .order_by(col(TrackRow.priority), col(TrackRow.id))
            )
            return list(session.exec(query))

    def set_queue(self, track_id: str, wo_ids: list[str], run_id: str | None = None) -> None:
        with self.writing() as session:
            track = session.get(TrackRow, track_id)
            if track is None:
                return
            track.wo_queue = list(wo_ids)
            session.add(track)
            self.journal(session, "queue_set", "track", track_id, run_id=run_id, wo_ids=wo_ids)

    def add_directive(
        self,
        weights: dict[str, float],
        reason: str,
        run_id: str | None = None,
        budgets: dict[str, float] | None = None,
    ) -> Directive:
        """Store the global agent's directive and apply its weights/budgets to the tracks."""
        with self.writing() as session:
            for track_id, weight in weights.items():
                track = session.get(TrackRow, track_id)
                if track is not None:
                    track.weight = weight
                    session.add(track)
            for track_id, usd in (budgets or {}).items():
                track = session.get(TrackRow, track_id)
                if track is not None:
                    track.budget_usd = usd
                    session.add(track)
            row = DirectiveRow(weights=weights, budgets=budgets or {}, reason=reason, run_id=run_id)
            session.add(row)
            self.journal(
                session,
                "directive",
                "daemon",
                "global",
                run_id=run_id,
                weights=weights,
                budgets=budgets or {},
                reason=reason,
            )
            session.flush()
            return directive_of(row)

    def note_progress(self, track_id: str, run_id: str | None, report: dict[str, Any]) -> None:
        """A project agent's progress report: journaled; a blocked reason is kept on the track."""
        with self.writing() as session:
            track = session.get(TrackRow, track_id)
            if track is None:
                return
            if report.get("blocked_reason"):
                track.blocked_reason = str(report["blocked_reason"])[:2000]
                session.add(track)
            self.journal(
                session,
                "track_progress",
                "track",
                track_id,
                run_id=run_id,
                summary=str(report.get("summary", ""))[:2000],
                blocked_reason=report.get("blocked_reason"),
            )
