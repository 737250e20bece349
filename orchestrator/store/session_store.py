"""The SDK's ``SessionStore`` on our SQLite state DB: agent transcripts mirrored for resume.

The CLI writes each session's transcript to a JSONL file under its config dir and the SDK
hands every line to :meth:`SQLiteSessionStore.append`. With that mirror in the DB, ``recover``
can resume a session (the SDK materializes :meth:`SQLiteSessionStore.load` into a temporary
JSONL file before it spawns the CLI) even when the CLI's own file is gone: a wiped
``CLAUDE_CONFIG_DIR``, another machine, or the CLI's ``cleanupPeriodDays`` sweep.

Two tables: ``transcripts`` holds one row per mirrored transcript (a session's main
transcript has ``subpath == ''``, a subagent's has the SDK's subpath) with its entry count,
write time and, for main transcripts, the SDK's opaque summary sidecar; ``transcript_entries``
holds the lines themselves, one JSON text per row, numbered by ``seq`` in append order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import anyio.to_thread
from claude_agent_sdk import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
    fold_session_summary,
)
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel, col, insert, select

from orchestrator.store.db import read_session, write_connection, write_session

#: The ``subpath`` column value of a session's main transcript (the SDK omits the key).
MAIN_SUBPATH = ""

#: Most uuids looked up in one ``IN (...)``: well under SQLite's bound-parameter limit
#: (999 on old builds), since a batch may exceed the SDK's 500-entry flush threshold.
_UUID_LOOKUP_CHUNK = 400

_T = TypeVar("_T")


class TranscriptRow(SQLModel, table=True):
    """One mirrored transcript: a session's main transcript or one subagent's."""

    __tablename__ = "transcripts"

    project_key: str = Field(primary_key=True)
    session_id: str = Field(primary_key=True)
    subpath: str = Field(default=MAIN_SUBPATH, primary_key=True)
    # Kept here so append numbers new entries without scanning transcript_entries.
    entry_count: int = Field(default=0)
    # Epoch ms of our last write; the SDK's list_sessions() mtime (our own clock, never
    # the entries' ISO timestamps, so the summary staleness check compares like with like).
    mtime: int = Field(sa_column=Column(BigInteger, nullable=False))
    # JSON of the SDK's SessionSummaryEntry["data"]; main transcripts only.
    summary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TranscriptEntryRow(SQLModel, table=True):
    """One transcript line, stored verbatim as JSON text."""

    __tablename__ = "transcript_entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_key", "session_id", "subpath"],
            ["transcripts.project_key", "transcripts.session_id", "transcripts.subpath"],
            ondelete="CASCADE",
            name="fk_transcript_entries_transcript",
        ),
        # Serves load()'s ORDER BY seq and guards against two writers numbering alike.
        UniqueConstraint(
            "project_key", "session_id", "subpath", "seq", name="uq_transcript_entries_seq"
        ),
        # The SDK's idempotency key; SQLite treats NULLs as distinct, so uuid-less lines
        # (titles, tags, mode markers) are never deduplicated.
        UniqueConstraint(
            "project_key", "session_id", "subpath", "uuid", name="uq_transcript_entries_uuid"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_key: str
    session_id: str
    subpath: str = Field(default=MAIN_SUBPATH)
    seq: int
    uuid: str | None = Field(default=None)
    entry: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


_TRANSCRIPTS: Table = SQLModel.metadata.tables[TranscriptRow.__tablename__]
_ENTRIES: Table = SQLModel.metadata.tables[TranscriptEntryRow.__tablename__]

# The append's statements, built once: the hot path binds values and hits the compiled cache.
_KEY = [
    _TRANSCRIPTS.c.project_key == bindparam("k_project"),
    _TRANSCRIPTS.c.session_id == bindparam("k_session"),
    _TRANSCRIPTS.c.subpath == bindparam("k_subpath"),
]
_NEW_TRANSCRIPT = {
    dialect: insert_of(_TRANSCRIPTS)
    .values(
        project_key=bindparam("k_project"),
        session_id=bindparam("k_session"),
        subpath=bindparam("k_subpath"),
        entry_count=0,
        mtime=0,
    )
    .on_conflict_do_nothing()
    for dialect, insert_of in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
_LOCK_TRANSCRIPT = (
    select(_TRANSCRIPTS.c.entry_count, _TRANSCRIPTS.c.mtime, _TRANSCRIPTS.c.summary)
    .where(*_KEY)
    .with_for_update()
)
_STORED_UUIDS = select(_ENTRIES.c.uuid).where(
    _ENTRIES.c.project_key == bindparam("k_project"),
    _ENTRIES.c.session_id == bindparam("k_session"),
    _ENTRIES.c.subpath == bindparam("k_subpath"),
    _ENTRIES.c.uuid.in_(bindparam("uuids", expanding=True)),
)
_COUNT_UPDATE = (
    update(_TRANSCRIPTS)
    .where(*_KEY)
    .values(entry_count=bindparam("v_count"), mtime=bindparam("v_mtime"))
)
_SUMMARY_UPDATE = _COUNT_UPDATE.values(summary=bindparam("v_summary"))


class SQLiteSessionStore(SessionStore):
    """A ``claude_agent_sdk.SessionStore`` that mirrors transcripts into the state DB.

    Implements every optional method the SDK probes for, so a store-backed resume also
    restores subagent transcripts and ``list_sessions_from_store`` needs no per-session
    load. Entries come back deep-equal and in append order; an entry whose ``uuid`` is
    already stored under the same key is skipped, as the SDK asks, because it retries a
    failed batch and ``import_session_to_store`` replays whole files.

    The engine is borrowed, not owned: build it with ``make_engine`` and dispose of it
    where it was made. Blocking DB work runs in a worker thread; each write is one
    ``BEGIN IMMEDIATE`` transaction, so appends from several processes on one DB file
    serialize without losing or renumbering entries.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        """Append ``entries`` to the transcript at ``key``; ``[]`` writes nothing."""
        if not entries:
            return
        # Serialize outside the transaction so the write lock is held only for SQL.
        encoded = [(_uuid_of(entry), _encode(entry)) for entry in entries]
        await _in_thread(lambda: self._append_sync(key, entries, encoded))

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """All entries at ``key`` in append order, or ``None`` if none were ever stored."""
        return await _in_thread(lambda: self._load_sync(key))

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        """Main transcripts of ``project_key`` with their last write time (epoch ms)."""
        return await _in_thread(lambda: self._list_sessions_sync(project_key))

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        """The SDK's summary sidecars of ``project_key``'s main transcripts."""
        return await _in_thread(lambda: self._list_summaries_sync(project_key))

    async def delete(self, key: SessionKey) -> None:
        """Delete ``key``; a main-transcript key takes all its subagent transcripts along."""
        await _in_thread(lambda: self._delete_sync(key))

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        """Subpaths stored under a session (its subagent transcripts), sorted."""
        return await _in_thread(lambda: self._list_subkeys_sync(key))

    def _append_sync(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        encoded: list[tuple[str | None, str]],
    ) -> None:
        # Core statements on one connection, not the ORM: this runs for every frame of
        # every session (``session_store_flush="eager"``), so its cost is the daemon's.
        project_key, session_id, subpath = _key_parts(key)
        with write_connection(self._engine) as conn:
            count, mtime, summary = _locked_transcript(conn, key)
            known = _stored_uuids(conn, key, (u for u, _ in encoded if u is not None))
            fresh: list[int] = []
            for index, (uuid, _) in enumerate(encoded):
                if uuid is None:
                    fresh.append(index)
                elif uuid not in known:
                    known.add(uuid)  # also drops a repeat within this batch
                    fresh.append(index)
            if not fresh:
                return  # a replayed batch: nothing new, so mtime stays put too
            # Strictly increasing per transcript even if the wall clock steps back, so every
            # append is visible to an mtime-based freshness check.
            now = max(_now_ms(), mtime + 1)
            conn.execute(
                insert(_ENTRIES),
                [
                    {
                        "project_key": project_key,
                        "session_id": session_id,
                        "subpath": subpath,
                        "seq": count + offset,
                        "uuid": encoded[index][0],
                        "entry": encoded[index][1],
                        "created_at": now,
                    }
                    for offset, index in enumerate(fresh)
                ],
            )
            values: dict[str, Any] = {"v_count": count + len(fresh), "v_mtime": now}
            statement = _COUNT_UPDATE
            if subpath == MAIN_SUBPATH:
                # Read-fold-write inside the same IMMEDIATE transaction: racing appends
                # to one session (other processes too) cannot lose a fold.
                prev = _summary_from(session_id, mtime, summary)
                folded = fold_session_summary(prev, key, [entries[i] for i in fresh])
                values["v_summary"] = json.dumps(folded["data"], ensure_ascii=False)
                statement = _SUMMARY_UPDATE
            conn.execute(statement, {**_key_params(key), **values})

    def _load_sync(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        project_key, session_id, subpath = _key_parts(key)
        with read_session(self._engine) as session:
            rows = session.exec(
                select(TranscriptEntryRow.entry)
                .where(
                    TranscriptEntryRow.project_key == project_key,
                    TranscriptEntryRow.session_id == session_id,
                    TranscriptEntryRow.subpath == subpath,
                )
                .order_by(col(TranscriptEntryRow.seq))
            ).all()
        # append never stores an empty transcript, so no rows means never written
        # (or deleted), which the protocol reports as None.
        if not rows:
            return None
        return [cast(SessionStoreEntry, json.loads(text)) for text in rows]

    def _list_sessions_sync(self, project_key: str) -> list[SessionStoreListEntry]:
        with read_session(self._engine) as session:
            rows = session.exec(
                select(TranscriptRow.session_id, TranscriptRow.mtime).where(
                    TranscriptRow.project_key == project_key,
                    TranscriptRow.subpath == MAIN_SUBPATH,
                )
            ).all()
        return [{"session_id": session_id, "mtime": mtime} for session_id, mtime in rows]

    def _list_summaries_sync(self, project_key: str) -> list[SessionSummaryEntry]:
        with read_session(self._engine) as session:
            rows = session.exec(
                select(TranscriptRow).where(
                    TranscriptRow.project_key == project_key,
                    TranscriptRow.subpath == MAIN_SUBPATH,
                    col(TranscriptRow.summary).is_not(None),
                )
            ).all()
        summaries: list[SessionSummaryEntry] = []
        for row in rows:
            summary = _summary_of(row)
            if summary is not None:
                summaries.append(summary)
        return summaries

    def _delete_sync(self, key: SessionKey) -> None:
        project_key, session_id, subpath = _key_parts(key)
        with write_session(self._engine) as session:
            # Entries first, explicitly: correct whether or not the FK cascade is enforced.
            for table in (TranscriptEntryRow, TranscriptRow):
                statement = delete(table).where(
                    col(table.project_key) == project_key,
                    col(table.session_id) == session_id,
                )
                if subpath != MAIN_SUBPATH:
                    statement = statement.where(col(table.subpath) == subpath)
                session.execute(statement)

    def _list_subkeys_sync(self, key: SessionListSubkeysKey) -> list[str]:
        with read_session(self._engine) as session:
            rows = session.exec(
                select(TranscriptRow.subpath)
                .where(
                    TranscriptRow.project_key == key["project_key"],
                    TranscriptRow.session_id == key["session_id"],
                    TranscriptRow.subpath != MAIN_SUBPATH,
                )
                .order_by(col(TranscriptRow.subpath))
            ).all()
        return list(rows)


async def _in_thread(func: Callable[[], _T]) -> _T:
    # Not abandoned on cancel: a write either commits or rolls back before the caller
    # moves on, so a cancelled append never lands behind the caller's back.
    return await anyio.to_thread.run_sync(func)


def _key_parts(key: SessionKey) -> tuple[str, str, str]:
    # The SDK omits subpath for a main transcript; '' keeps the column NOT NULL so the
    # primary key and unique constraints work (NULLs would never compare equal).
    return key["project_key"], key["session_id"], key.get("subpath") or MAIN_SUBPATH


def _uuid_of(entry: SessionStoreEntry) -> str | None:
    uuid = cast(dict[str, Any], entry).get("uuid")
    return uuid if isinstance(uuid, str) and uuid else None


def _encode(entry: SessionStoreEntry) -> str:
    # ensure_ascii=False keeps non-ASCII text readable in the DB; the round trip is exact.
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def _locked_transcript(conn: Connection, key: SessionKey) -> tuple[int, int, str | None]:
    """The transcript's entry count, mtime and summary, its row created if new and locked
    until the append commits.

    The row is inserted unless it exists (``ON CONFLICT DO NOTHING``) and then read
    ``FOR UPDATE``: two first appends to one transcript from two processes (PostgreSQL)
    neither collide on its key nor number their entries alike. On SQLite the write lock
    has serialized them already and ``FOR UPDATE`` renders as a plain read.
    """
    params = _key_params(key)
    dialect = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    conn.execute(_NEW_TRANSCRIPT[dialect], params)
    row = conn.execute(_LOCK_TRANSCRIPT, params).one()
    return int(row.entry_count), int(row.mtime), row.summary


def _key_params(key: SessionKey) -> dict[str, str]:
    project_key, session_id, subpath = _key_parts(key)
    return {"k_project": project_key, "k_session": session_id, "k_subpath": subpath}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _stored_uuids(conn: Connection, key: SessionKey, uuids: Iterable[str]) -> set[str]:
    wanted = list(dict.fromkeys(uuids))
    params = _key_params(key)
    found: set[str] = set()
    for start in range(0, len(wanted), _UUID_LOOKUP_CHUNK):
        chunk = wanted[start : start + _UUID_LOOKUP_CHUNK]
        rows = conn.execute(_STORED_UUIDS, {**params, "uuids": chunk}).scalars()
        found.update(uuid for uuid in rows if uuid is not None)
    return found


def _summary_of(row: TranscriptRow) -> SessionSummaryEntry | None:
    return _summary_from(row.session_id, row.mtime, row.summary)


def _summary_from(session_id: str, mtime: int, summary: str | None) -> SessionSummaryEntry | None:
    if summary is None:
        return None
    data = cast(dict[str, Any], json.loads(summary))
    # The sidecar's mtime is the transcript's: both are stamped in the same transaction.
    return {"session_id": session_id, "mtime": mtime, "data": data}


def load_session_entries(engine: Engine, session_id: str) -> list[dict[str, Any]]:
    """Every mirrored line of a session's main transcript, in order, whatever its project key."""
    with read_session(engine) as session:
        rows = session.exec(
            select(TranscriptEntryRow)
            .where(
                TranscriptEntryRow.session_id == session_id,
                TranscriptEntryRow.subpath == MAIN_SUBPATH,
            )
            .order_by(col(TranscriptEntryRow.seq))
        )
        return [json.loads(row.entry) for row in rows]


def carry_session(engine: Engine, session_id: str, project_key: str) -> bool:
    """Copy a session's transcripts (main and subagents) to ``project_key`` from the key
    they were mirrored under, so the SDK can resume it from another directory: the SDK
    keys a transcript by its session's cwd, and a host taking a track over works in its
    own worktree. False when ``project_key`` has the session already or nothing has it."""
    with write_session(engine) as session:
        if session.get(TranscriptRow, (project_key, session_id, MAIN_SUBPATH)) is not None:
            return False
        mains = session.exec(
            select(TranscriptRow)
            .where(TranscriptRow.session_id == session_id, TranscriptRow.subpath == MAIN_SUBPATH)
            .order_by(col(TranscriptRow.mtime).desc())
        ).all()
        if not mains:
            return False
        source = mains[0].project_key
        for row in session.exec(
            select(TranscriptRow).where(
                TranscriptRow.project_key == source, TranscriptRow.session_id == session_id
            )
        ):
            copy = TranscriptRow.model_validate(row.model_dump())
            copy.project_key = project_key
            session.add(copy)
        session.flush()
        entries = session.exec(
            select(TranscriptEntryRow)
            .where(
                TranscriptEntryRow.project_key == source,
                TranscriptEntryRow.session_id == session_id,
            )
            .order_by(col(TranscriptEntryRow.id))
        ).all()
        if entries:
            fields = ("session_id", "subpath", "seq", "uuid", "entry", "created_at")
            session.execute(
                insert(TranscriptEntryRow),
                [
                    {"project_key": project_key, **{f: getattr(e, f) for f in fields}}
                    for e in entries
                ],
            )
        return True
