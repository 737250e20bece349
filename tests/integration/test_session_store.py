"""SQLiteSessionStore against the SDK's own conformance suite and our durability needs."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from claude_agent_sdk import (
    ClaudeAgentOptions,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    get_session_messages_from_store,
    list_sessions_from_store,
    project_key_for_directory,
)
from claude_agent_sdk.testing import run_session_store_conformance
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from orchestrator.store.db import make_engine
from orchestrator.store.session_store import SQLiteSessionStore
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines the test opens; all disposed at the end so no connection outlives it."""
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


OpenDB = Callable[[str], Engine]


@pytest.fixture(params=["sqlite", "postgres"])
def open_db(
    request: pytest.FixtureRequest, tmp_path: Path, engines: list[Engine]
) -> Iterator[OpenDB]:
    """Opens the database called ``name`` (a SQLite file, or a fresh PostgreSQL database),
    the same one again for the same name."""
    targets: dict[str, Path | str] = {}
    with contextlib.ExitStack() as dropped:

        def open_(name: str) -> Engine:
            if name not in targets:
                targets[name] = (
                    tmp_path / f"{name}.db"
                    if request.param == "sqlite"
                    else dropped.enter_context(fresh_database())
                )
            engine = make_engine(targets[name])
            SQLModel.metadata.create_all(engine)
            engines.append(engine)
            return engine

        yield open_
        for engine in engines:
            engine.dispose()


def _entry(**fields: Any) -> SessionStoreEntry:
    return cast(SessionStoreEntry, {"type": "user", **fields})


async def test_conformance(open_db: OpenDB) -> None:
    counter = iter(range(1_000))

    def make_store() -> SQLiteSessionStore:
        # A fresh DB file per contract: the suite expects each store to start empty.
        return SQLiteSessionStore(open_db(f"state-{next(counter)}"))

    with anyio.fail_after(60):
        await run_session_store_conformance(make_store)
    # Every optional method was exercised, not skipped for looking unimplemented.
    probe = make_store()
    for name in ("list_sessions", "list_session_summaries", "delete", "list_subkeys"):
        assert getattr(type(probe), name) is not getattr(SessionStore, name)


async def test_two_engines_interleave_appends_without_loss(
    open_db: OpenDB, engines: list[Engine]
) -> None:
    """Two stores on one database, as two daemon processes would have, append concurrently."""
    stores = [SQLiteSessionStore(open_db("state")) for _ in range(2)]
    shared: SessionKey = {"project_key": "proj", "session_id": "shared"}
    batches, per_batch = 40, 5

    async def writer(name: str, store: SQLiteSessionStore) -> None:
        own: SessionKey = {"project_key": "proj", "session_id": f"own-{name}"}
        for b in range(batches):
            batch = [
                _entry(uuid=f"{name}-{b}-{i}", w=name, n=b * per_batch + i)
                for i in range(per_batch)
            ]
            await store.append(shared, batch)
            await store.append(own, batch)
            # A title-like line without uuid must never be deduplicated away.
            await store.append(shared, [cast(SessionStoreEntry, {"type": "tag", "w": name})])
            # The SDK flushes about every 100 ms; a pause lets the other writer win the lock
            # (SQLite's busy handler is not fair, so back-to-back writers would run in turn).
            await anyio.sleep(0.01)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer, "a", stores[0])
            tg.start_soon(writer, "b", stores[1])

    loaded = await stores[0].load(shared)
    assert loaded is not None
    expected_total = 2 * batches * (per_batch + 1)
    assert len(loaded) == expected_total
    for name in ("a", "b"):
        mine = [cast(dict[str, Any], e) for e in loaded if cast(dict[str, Any], e)["w"] == name]
        # Each writer's own entries keep their append order in the merged transcript.
        numbered = [e["n"] for e in mine if e["type"] == "user"]
        assert numbered == list(range(batches * per_batch))
        assert sum(1 for e in mine if e["type"] == "tag") == batches
        own = await stores[1].load({"project_key": "proj", "session_id": f"own-{name}"})
        assert own is not None and len(own) == batches * per_batch

    writers = "".join(cast(dict[str, Any], e)["w"] for e in loaded)
    assert writers.count("ab") + writers.count("ba") > 2, writers  # really interleaved

    engine = engines[0]
    with engine.connect() as conn:
        seqs = (
            conn.execute(
                text("SELECT seq FROM transcript_entries WHERE session_id = 'shared' ORDER BY seq")
            )
            .scalars()
            .all()
        )
        count = conn.execute(
            text("SELECT entry_count FROM transcripts WHERE session_id = 'shared'")
        ).scalar_one()
        sqlite = engine.dialect.name == "sqlite"
        integrity = conn.execute(text("PRAGMA integrity_check")).scalar_one() if sqlite else "ok"
    assert seqs == list(range(expected_total))
    assert count == expected_total
    assert integrity == "ok"
    listed = {s["session_id"] for s in await stores[1].list_sessions("proj")}
    assert listed == {"shared", "own-a", "own-b"}


async def test_entries_round_trip_verbatim_and_survive_reopen(
    open_db: OpenDB, tmp_path: Path, engines: list[Engine]
) -> None:
    key: SessionKey = {"project_key": "p", "session_id": "s"}
    entries = [
        _entry(
            uuid="u1",
            message={"role": "user", "content": [{"type": "text", "text": 'héllo ✓ \u0000 "q"'}]},
            nested={"z": [1, 2.5, None, True, {"k": []}], "a": ""},
            big=2**62,
        ),
        cast(SessionStoreEntry, {"type": "custom-title", "customTitle": "née"}),
    ]
    await SQLiteSessionStore(open_db("state")).append(key, entries)
    engines.pop().dispose()

    reopened = SQLiteSessionStore(open_db("state"))
    loaded = await reopened.load(key)
    assert loaded == entries
    assert json.dumps(loaded, sort_keys=True) == json.dumps(entries, sort_keys=True)


async def test_replayed_batch_is_deduplicated_by_uuid(
    open_db: OpenDB, tmp_path: Path, engines: list[Engine]
) -> None:
    """The SDK retries failed batches and re-imports files: a uuid is stored once per key."""
    store = SQLiteSessionStore(open_db("state"))
    key: SessionKey = {"project_key": "p", "session_id": "s"}
    first = [_entry(uuid="a", n=1), _entry(uuid="b", n=2)]
    await store.append(key, first)
    mtime = (await store.list_sessions("p"))[0]["mtime"]

    await store.append(key, first)  # an exact replay changes nothing, mtime included
    assert await store.load(key) == first
    assert (await store.list_sessions("p"))[0]["mtime"] == mtime

    await store.append(key, [_entry(uuid="b", n=2), _entry(uuid="c", n=3), _entry(uuid="c", n=3)])
    assert await store.load(key) == [*first, _entry(uuid="c", n=3)]
    assert (await store.list_sessions("p"))[0]["mtime"] > mtime

    # The same uuid under another key (a subagent, another session) is a different line.
    sub: SessionKey = {**key, "subpath": "subagents/agent-1"}
    await store.append(sub, [_entry(uuid="a", n=1)])
    assert await store.load(sub) == [_entry(uuid="a", n=1)]


async def test_sdk_reads_and_materializes_resume_from_the_store(
    open_db: OpenDB, tmp_path: Path, engines: list[Engine]
) -> None:
    """The recover path: the CLI's file is gone, the SDK rebuilds it from our DB."""
    # materialize_resume_session is what ClaudeSDKClient runs before spawning the CLI for
    # a store-backed resume; calling it directly checks the hand-off without a CLI.
    from claude_agent_sdk._internal.session_resume import materialize_resume_session

    store = SQLiteSessionStore(open_db("state"))
    cwd = tmp_path / "worktree"
    cwd.mkdir()
    session_id = str(uuid.uuid4())
    key: SessionKey = {"project_key": project_key_for_directory(str(cwd)), "session_id": session_id}
    u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())
    main = [
        _entry(
            uuid=u1,
            parentUuid=None,
            sessionId=session_id,
            cwd=str(cwd),
            timestamp="2025-01-01T00:00:00.000Z",
            message={"role": "user", "content": "fix the bug"},
        ),
        cast(
            SessionStoreEntry,
            {
                "type": "assistant",
                "uuid": u2,
                "parentUuid": u1,
                "sessionId": session_id,
                "cwd": str(cwd),
                "timestamp": "2025-01-01T00:00:01.000Z",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
            },
        ),
    ]
    sub_entries = [
        _entry(
            uuid=str(uuid.uuid4()),
            isSidechain=True,
            sessionId=session_id,
            message={"role": "user", "content": "sub task"},
        )
    ]
    await store.append(key, main)
    await store.append({**key, "subpath": "subagents/agent-x"}, sub_entries)

    infos = await list_sessions_from_store(store, directory=str(cwd))
    assert [i.session_id for i in infos] == [session_id]
    assert infos[0].first_prompt == "fix the bug"
    messages = await get_session_messages_from_store(store, session_id, directory=str(cwd))
    assert [m.uuid for m in messages] == [u1, u2]

    options = ClaudeAgentOptions(
        cwd=str(cwd),
        resume=session_id,
        session_store=store,
        # Keeps the SDK from copying the developer's own ~/.claude auth into the temp dir.
        env={"CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    with anyio.fail_after(30):
        materialized = await materialize_resume_session(options)
    assert materialized is not None
    try:
        project_dir = materialized.config_dir / "projects" / key["project_key"]
        lines = (project_dir / f"{session_id}.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == main
        sub_file = project_dir / session_id / "subagents" / "agent-x.jsonl"
        assert [json.loads(line) for line in sub_file.read_text().splitlines()] == sub_entries
    finally:
        await materialized.cleanup()


async def test_a_session_carried_to_another_worktree_resumes_there(
    open_db: OpenDB, tmp_path: Path
) -> None:
    """A takeover: the session was mirrored under alpha's worktree, beta resumes it in its
    own; the SDK finds it under beta's key only once it is carried."""
    from claude_agent_sdk._internal.session_resume import materialize_resume_session

    from orchestrator.store.session_store import carry_session

    engine = open_db("state")
    store = SQLiteSessionStore(engine)
    alpha, beta = tmp_path / "alpha" / "t1", tmp_path / "beta" / "t1"
    for path in (alpha, beta):
        path.mkdir(parents=True)
    session_id = str(uuid.uuid4())
    key: SessionKey = {
        "project_key": project_key_for_directory(str(alpha)),
        "session_id": session_id,
    }
    main = [
        _entry(
            uuid=str(uuid.uuid4()), sessionId=session_id, message={"role": "user", "content": "go"}
        )
    ]
    sub = [_entry(uuid=str(uuid.uuid4()), isSidechain=True, sessionId=session_id)]
    await store.append(key, main)
    await store.append({**key, "subpath": "subagents/agent-x"}, sub)
    options = ClaudeAgentOptions(
        cwd=str(beta),
        resume=session_id,
        session_store=store,
        env={"CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    with anyio.fail_after(30):
        assert await materialize_resume_session(options) is None  # not under beta's key yet

    beta_key = project_key_for_directory(str(beta))
    assert carry_session(engine, session_id, beta_key)
    assert not carry_session(engine, session_id, beta_key)  # once
    assert not carry_session(engine, str(uuid.uuid4()), beta_key)  # nobody has it
    assert await store.load({"project_key": beta_key, "session_id": session_id}) == main
    sub_key: SessionKey = {
        "project_key": beta_key,
        "session_id": session_id,
        "subpath": "subagents/agent-x",
    }
    assert await store.load(sub_key) == sub
    assert await store.load(key) == main  # alpha's copy stays
    with anyio.fail_after(30):
        materialized = await materialize_resume_session(options)
    assert materialized is not None
    await materialized.cleanup()
