"""The read side of the store for the read commands: one prepared statement each, stdlib only.

``orch status --json``, ``orch wo list --track T --json`` and ``orch track list --json`` are
run from a second shell while the daemon works; they should cost little more than starting
Python. So this module imports nothing but ``sqlite3`` and ``json`` (no SQLAlchemy, SQLModel
or pydantic), asks SQLite for each command's rows in one statement (counts come from the
trigger-kept ``track_wo_counts``), and yields plain rows in the ``--json`` shapes of
DESIGN.md. ``SQLiteStore`` answers ``list_tracks`` and a track's WO list through the same
functions, so there is one owner of these queries.

The store on PostgreSQL asks the same questions through the same functions, given its
psycopg connection (which has sqlite3's ``execute``): each statement has a PostgreSQL twin
(``_PG``) and JSON comes back decoded. The fast path itself is SQLite's alone.

A state this module does not describe in full (open experiments, parked work, a schema
older than the code) answers :class:`NotHere`; the caller then takes the full store.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The schema these statements are written for (``sqlite_store.HEAD_REVISION``).
SCHEMA_REVISION = "0006"
#: Experiment statuses ``orch status`` lists (``domain.experiment.OPEN_EXPERIMENT_STATUSES``).
OPEN_EXPERIMENTS = ("running", "evaluating", "deciding")


class NotHere(Exception):
    """This read cannot be answered here; the full store can (and reports any error)."""


def _pg(conn: Any) -> bool:
    """Whether ``conn`` is the store's PostgreSQL (psycopg) connection."""
    return not isinstance(conn, sqlite3.Connection)


def _json(value: Any) -> Any:
    """A JSON column or aggregate: text from SQLite, already decoded from psycopg."""
    return json.loads(value) if isinstance(value, str) else value


def connect(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to an up-to-date state DB, or NotHere."""
    if not db_path.is_file():
        raise NotHere("no state DB")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60.0)
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise NotHere(str(exc)) from None
    if revision is None or revision[0] != SCHEMA_REVISION:
        conn.close()
        raise NotHere("schema needs an upgrade")
    return conn


# ------------------------------------------------------------------------------ tracks

_TRACKS_SQL = """
SELECT t.id, t.project_id, t.name, t.type, t.status, t.priority, t.weight, t.parent_track_id,
       t.branch, t.worktree_path,
       (SELECT coalesce(sum(c.n), 0) FROM track_wo_counts AS c WHERE c.track_id = t.id),
       (SELECT coalesce(sum(c.n), 0) FROM track_wo_counts AS c
        WHERE c.track_id = t.id AND c.status = 'done'),
       t.blocked_reason
FROM tracks AS t
WHERE (:project IS NULL OR t.project_id = :project)
  AND (:status IS NULL OR t.status = :status)
  AND (:type IS NULL OR t.type = :type)
ORDER BY t.project_id, t.priority, t.id"""

_PG_TRACKS_SQL = (
    _TRACKS_SQL.replace(":project", "%(project)s::text")
    .replace(":status", "%(status)s::text")
    .replace(":type", "%(type)s::text")
)


def track_list(
    conn: Any,
    project: str | None = None,
    status: str | None = None,
    track_type: str | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``track list``, with WO counts, parents before their sub-tracks."""
    sql = _PG_TRACKS_SQL if _pg(conn) else _TRACKS_SQL
    rows = conn.execute(sql, {"project": project, "status": status, "type": track_type})
    tracks = [
        {
            "id": tid,
            "project": project_id,
            "name": name,
            "type": kind,
            "status": state,
            "priority": priority,
            "weight": weight,
            "parent": parent,
            "branch": branch,
            "worktree": worktree,
            "wo_count": total,
            "done_count": done,
            "blocked_reason": blocked,
        }
        for (tid, project_id, name, kind, state, priority, weight, parent, branch, worktree,
             total, done, blocked) in rows
    ]  # fmt: skip
    return [{**track, "depth": depth} for track, depth in tree_order(tracks)]


def tree_order(tracks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """(track, depth) with each parent followed by its sub-tracks, input order kept."""
    ids = {t["id"] for t in tracks}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for track in tracks:
        parent = track["parent"] if track["parent"] in ids else None
        children.setdefault(parent, []).append(track)
    ordered: list[tuple[dict[str, Any], int]] = []

    def visit(parent: str | None, depth: int) -> None:
        for child in children.get(parent, []):
            ordered.append((child, depth))
            visit(child["id"], depth + 1)

    visit(None, 0)
    return ordered


# ----------------------------------------------------------------------- work orders

_TRACK_WOS_SQL = """
WITH RECURSIVE subtree (id) AS (
    SELECT id FROM tracks WHERE id = :track
    UNION
    SELECT t.id FROM tracks AS t JOIN subtree ON t.parent_track_id = subtree.id
)
SELECT w.id, w.project_id, w.title, w.status, w.priority, w.tags,
       (SELECT json_group_array(depends_on_id) FROM (
            SELECT depends_on_id FROM wo_dependencies WHERE wo_id = w.id
            ORDER BY depends_on_id)),
       (SELECT json_group_array(track_id) FROM (
            SELECT track_id FROM wo_tracks WHERE wo_id = w.id ORDER BY track_id))
FROM work_orders AS w
WHERE w.id IN (SELECT wo_id FROM wo_tracks WHERE track_id IN (SELECT id FROM subtree))
  AND (:status IS NULL OR w.status = :status)
ORDER BY w.priority, w.id"""

#: A WO's dependencies and tracks as JSON lists, in PostgreSQL.
_PG_WO_LISTS = """coalesce((SELECT json_agg(depends_on_id ORDER BY depends_on_id)
            FROM wo_dependencies WHERE wo_id = w.id), '[]'::json),
       coalesce((SELECT json_agg(track_id ORDER BY track_id)
            FROM wo_tracks WHERE wo_id = w.id), '[]'::json)"""

_PG_TRACK_WOS_SQL = f"""
WITH RECURSIVE subtree (id) AS (
    SELECT id FROM tracks WHERE id = %(track)s
    UNION
    SELECT t.id FROM tracks AS t JOIN subtree ON t.parent_track_id = subtree.id
)
SELECT w.id, w.project_id, w.title, w.status, w.priority, w.tags, {_PG_WO_LISTS}
FROM work_orders AS w
WHERE w.id IN (SELECT wo_id FROM wo_tracks WHERE track_id IN (SELECT id FROM subtree))
  AND (%(status)s::text IS NULL OR w.status = %(status)s)
ORDER BY w.priority, w.id"""


def track_wos(conn: Any, track: str, status: str | None = None) -> Iterator[dict[str, Any]]:
    """``wo list --track``: the WOs of a track and its sub-tracks, each once, by priority
    then id (NotHere for an unknown track: the full store names the error)."""
    empty = True
    sql = _PG_TRACK_WOS_SQL if _pg(conn) else _TRACK_WOS_SQL
    for wo_id, project, title, state, priority, tags, deps, tracks in conn.execute(
        sql, {"track": track, "status": status}
    ):
        empty = False
        yield {
            "id": wo_id,
            "project": project,
            "title": title,
            "status": state,
            "priority": priority,
            "tags": _json(tags),
            "depends_on": _json(deps),
            "tracks": _json(tracks),
        }
    exists = "SELECT 1 FROM tracks WHERE id = " + ("%s" if _pg(conn) else "?")
    if empty and conn.execute(exists, (track,)).fetchone() is None:
        raise NotHere(f"unknown track {track!r}")


_WOS_SQL = """
SELECT w.id, w.project_id, w.title, w.status, w.priority, w.tags,
       (SELECT json_group_array(depends_on_id) FROM (
            SELECT depends_on_id FROM wo_dependencies WHERE wo_id = w.id
            ORDER BY depends_on_id)),
       (SELECT json_group_array(track_id) FROM (
            SELECT track_id FROM wo_tracks WHERE wo_id = w.id ORDER BY track_id))
FROM work_orders AS w
WHERE (:project IS NULL OR w.project_id = :project)
  AND (:status IS NULL OR w.status = :status)
ORDER BY w.priority, w.id"""

_PG_WOS_SQL = f"""
SELECT w.id, w.project_id, w.title, w.status, w.priority, w.tags, {_PG_WO_LISTS}
FROM work_orders AS w
WHERE (%(project)s::text IS NULL OR w.project_id = %(project)s)
  AND (%(status)s::text IS NULL OR w.status = %(status)s)
ORDER BY w.priority, w.id"""


def work_order_list(
    conn: Any, project: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """``wo list`` of a project or all, by priority then id (the dashboard's tree and list
    read 10,000 of these: one statement, no ORM objects)."""
    return [
        {
            "id": wo_id,
            "project": project_id,
            "title": title,
            "status": state,
            "priority": priority,
            "tags": _json(tags),
            "depends_on": _json(deps),
            "tracks": _json(tracks),
        }
        for wo_id, project_id, title, state, priority, tags, deps, tracks in conn.execute(
            _PG_WOS_SQL if _pg(conn) else _WOS_SQL, {"project": project, "status": status}
        )
    ]


# ---------------------------------------------------------------------------- status

_STATUS_SQL = f"""
SELECT json_object(
    'projects', (
        SELECT json_group_array(json_object(
            'id', p.id, 'path', p.path, 'base_branch', p.base_branch,
            'tracks', (SELECT json_group_object(status, n) FROM (
                SELECT status, count(*) AS n FROM tracks WHERE project_id = p.id
                GROUP BY status)),
            'work_orders', (SELECT json_group_object(status, n) FROM (
                SELECT status, count(*) AS n FROM work_orders WHERE project_id = p.id
                GROUP BY status))))
        FROM (SELECT * FROM projects ORDER BY id) AS p),
    'tracks', (SELECT json_group_object(status, n) FROM (
        SELECT status, count(*) AS n FROM tracks GROUP BY status)),
    'work_orders', (SELECT json_group_object(status, n) FROM (
        SELECT status, count(*) AS n FROM work_orders GROUP BY status)),
    -- REAL through printf: json_object would round a cost to 15 digits.
    'runs', (SELECT json_group_array(json_object(
            'id', id, 'role', role, 'track', track_id, 'wo', wo_id, 'session_id', session_id,
            'cost_usd', json(printf('%!.17g', cost_usd)), 'started_at', started_at))
        FROM (SELECT * FROM agent_runs WHERE status = 'running' ORDER BY started_at)),
    'directive', (SELECT json_object('weights', json(weights), 'reason', reason)
        FROM directives ORDER BY id DESC LIMIT 1),
    'lease', (SELECT json_object('pid', pid, 'hostname', hostname, 'expires_at', expires_at)
        FROM (SELECT * FROM daemon_lease WHERE :host IS NULL OR host_id = :host OR host_id IS NULL
            ORDER BY host_id IS NULL, id LIMIT 1)),
    'hosts', (SELECT json_group_array(json_object(
            'id', h.id, 'hostname', h.hostname, 'home', h.home, 'pid', h.pid,
            'started_at', h.started_at, 'last_seen_at', h.last_seen_at,
            'tracks', (SELECT json_group_array(json_object(
                    'track', track_id, 'acquired_at', acquired_at, 'heartbeat_at', heartbeat_at,
                    'ttl_s', json(printf('%!.17g', ttl_s)), 'expires_at', expires_at))
                FROM (SELECT * FROM track_leases WHERE host_id = h.id ORDER BY track_id))))
        FROM (SELECT * FROM hosts ORDER BY id) AS h),
    'open_experiments', (SELECT count(*) FROM experiments
        WHERE status IN {OPEN_EXPERIMENTS!r}),
    'parks', (SELECT count(*) FROM events WHERE kind = 'parked' AND id > coalesce(
        (SELECT max(id) FROM events WHERE kind = 'daemon_started'), 0)))"""


def status(conn: sqlite3.Connection, this_host: str | None = None) -> dict[str, Any]:
    """``orch status --json`` (NotHere while experiments are open or work is parked: their
    lines are built by the domain). ``this_host``: the home's host id, if it has one."""
    (text,) = conn.execute(_STATUS_SQL, {"host": this_host}).fetchone()
    found = json.loads(text)
    if found.pop("open_experiments") or found.pop("parks"):
        raise NotHere("experiments or parks to describe")
    lease = found.pop("lease")
    live = lease is not None and _lease_live(lease)
    for run in found["runs"]:
        run["started_at"] = _aware(run["started_at"]).isoformat()
    return {
        "daemon": {"running": live, "pid": lease["pid"] if live else None},
        "projects": found["projects"],
        "tracks": found["tracks"],
        "work_orders": found["work_orders"],
        "runs": found["runs"],
        "experiments": [],
        "directive": found["directive"],
        "parked": [],
        "hosts": _hosts(found["hosts"], this_host, datetime.now(UTC)),
    }


def _hosts(hosts: list[dict[str, Any]], this_host: str | None, now: datetime) -> list[Any]:
    """As ``domain.hosts_view.host_json`` (the full CLI's shape), from the rows above."""

    def since(stored: str) -> float:
        return round(max(0.0, (now - _aware(stored)).total_seconds()), 1)

    def when(stored: str | None) -> str | None:
        return None if stored is None else _aware(stored).isoformat()

    return [
        {
            "id": h["id"],
            "hostname": h["hostname"],
            "home": h["home"],
            "pid": h["pid"],
            "this_home": h["id"] == this_host,
            "started_at": when(h["started_at"]),
            "last_seen_at": when(h["last_seen_at"]),
            "seen_s": since(h["last_seen_at"]),
            "tracks": [
                {
                    "track": x["track"],
                    "acquired_at": when(x["acquired_at"]),
                    "heartbeat_at": when(x["heartbeat_at"]),
                    "ttl_s": x["ttl_s"],
                    "age_s": since(x["heartbeat_at"]),
                    "held_s": since(x["acquired_at"]),
                    "expired": _aware(x["expires_at"]) <= now,
                }
                for x in h["tracks"]
            ],
        }
        for h in hosts
    ]


def _aware(stored: str) -> datetime:
    """A stored timestamp (UTC, as SQLAlchemy writes it) as an aware datetime."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _lease_live(lease: dict[str, Any]) -> bool:
    """As ``store.lease.lease_is_live``: unexpired, and its process alive if on this host."""
    if _aware(lease["expires_at"]) <= datetime.now(UTC):
        return False
    if lease["hostname"] != socket.gethostname():
        return True
    try:
        os.kill(lease["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
