"""Track and work order lifecycles: the full (from, to) matrix, in the domain and in the store."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from orchestrator.domain.errors import IllegalTransitionError, UserInputError
from orchestrator.domain.lifecycle import (
    TRACK_TRANSITIONS,
    WO_TRANSITIONS,
    TrackStatus,
    WOStatus,
    check_transition,
)
from orchestrator.domain.models import WorkOrder
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import EventRow, TrackRow, WorkOrderRow
from tests.conftest import OrchRunner, db_dump

T = TrackStatus
W = WOStatus

#: The track lifecycle as drawn in seeds/001 and DESIGN.md, written out independently of
#: the implementation's table so that a changed table fails here.
TRACK_LEGAL: set[tuple[TrackStatus, TrackStatus]] = {
    (T.DRAFT, T.READY),
    (T.DRAFT, T.CANCELLED),
    (T.READY, T.ACTIVE),
    (T.READY, T.FAILED),
    (T.ACTIVE, T.COMPLETED),
    (T.ACTIVE, T.PAUSED),
    (T.PAUSED, T.ACTIVE),
    (T.PAUSED, T.FAILED),
    # Not drawn in seeds/001: a losing experiment variant is cancelled without "failing".
    (T.PAUSED, T.CANCELLED),
    (T.COMPLETED, T.ARCHIVED),
    (T.FAILED, T.CANCELLED),
}

#: backlog -> ready -> running -> done, plus failed, blocked, cancelled.
WO_LEGAL: set[tuple[WOStatus, WOStatus]] = {
    (W.BACKLOG, W.READY),
    (W.BACKLOG, W.BLOCKED),
    (W.BACKLOG, W.CANCELLED),
    (W.READY, W.RUNNING),
    (W.READY, W.BACKLOG),
    (W.READY, W.BLOCKED),
    (W.READY, W.CANCELLED),
    (W.RUNNING, W.DONE),
    (W.RUNNING, W.FAILED),
    (W.RUNNING, W.READY),
    (W.RUNNING, W.BLOCKED),
    (W.FAILED, W.READY),
    (W.FAILED, W.BACKLOG),
    (W.FAILED, W.CANCELLED),
    (W.BLOCKED, W.READY),
    (W.BLOCKED, W.BACKLOG),
    (W.BLOCKED, W.CANCELLED),
    # An experiment's original WO, done by the winning variant.
    (W.BLOCKED, W.DONE),
    (W.CANCELLED, W.BACKLOG),
}

TRACK_PAIRS = list(itertools.product(TrackStatus, TrackStatus))
WO_PAIRS = list(itertools.product(WOStatus, WOStatus))


def _pair_id(pair: tuple[object, object]) -> str:
    return f"{pair[0]}->{pair[1]}"


def test_every_status_has_a_row_in_the_tables() -> None:
    assert set(TRACK_TRANSITIONS) == set(TrackStatus)
    assert set(WO_TRANSITIONS) == set(WOStatus)
    assert {s.value for s in TrackStatus} == {
        "draft",
        "ready",
        "active",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "archived",
    }
    assert {s.value for s in WOStatus} == {
        "backlog",
        "ready",
        "running",
        "done",
        "failed",
        "blocked",
        "cancelled",
    }


def test_final_statuses() -> None:
    assert not TRACK_TRANSITIONS[T.ARCHIVED]
    assert not TRACK_TRANSITIONS[T.CANCELLED]
    assert not WO_TRANSITIONS[W.DONE]


@pytest.mark.parametrize("pair", TRACK_PAIRS, ids=_pair_id)
def test_track_transition_matrix(pair: tuple[TrackStatus, TrackStatus]) -> None:
    current, target = pair
    if pair in TRACK_LEGAL:
        assert check_transition("track", "t1", current, target) is target
        return
    with pytest.raises(IllegalTransitionError) as info:
        check_transition("track", "t1", current, target)
    message = str(info.value)
    assert f"from {current.value} to {target.value}" in message
    assert "t1" in message
    assert "\n" not in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize("pair", WO_PAIRS, ids=_pair_id)
def test_wo_transition_matrix(pair: tuple[WOStatus, WOStatus]) -> None:
    current, target = pair
    if pair in WO_LEGAL:
        assert check_transition("work order", "WO-2026-001", current, target) is target
        return
    with pytest.raises(IllegalTransitionError) as info:
        check_transition("work order", "WO-2026-001", current, target)
    message = str(info.value)
    assert f"from {current.value} to {target.value}" in message
    assert "WO-2026-001" in message
    assert "\n" not in message


def test_illegal_transition_is_user_input_error() -> None:
    # The CLI maps UserInputError to exit status 2.
    assert issubclass(IllegalTransitionError, UserInputError)


def test_message_lists_what_is_allowed() -> None:
    with pytest.raises(IllegalTransitionError, match=r"allowed from draft: cancelled, ready"):
        check_transition("track", "x", T.DRAFT, T.ACTIVE)
    with pytest.raises(IllegalTransitionError, match=r"none \(final\)"):
        check_transition("work order", "WO-2026-001", W.DONE, W.READY)


# ----------------------------------------------------------------------- store level


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore.open(tmp_path / "state" / "orchestrator.db")
    s.add_project("demo", str(tmp_path / "repo"), "main", "")
    yield s
    s.close()


def _events(store: SQLiteStore, kind: str, subject: str) -> list[EventRow]:
    with store.reading() as session:
        query = select(EventRow).where(EventRow.kind == kind, EventRow.subject_id == subject)
        return list(session.exec(query))


def _force(
    store: SQLiteStore, table: type[TrackRow] | type[WorkOrderRow], key: str, to: str
) -> None:
    """Put a row into a status directly (test set-up, bypassing the lifecycle)."""
    with store.writing() as session:
        row = session.get(table, key)
        assert row is not None
        row.status = to
        session.add(row)


@pytest.mark.integration
def test_store_track_matrix_journals_legal_and_refuses_illegal(store: SQLiteStore) -> None:
    store.create_track("demo", "t1", "feature")
    for current, target in TRACK_PAIRS:
        _force(store, TrackRow, "t1", current.value)
        before = len(_events(store, "track_status", "t1"))
        if (current, target) in TRACK_LEGAL:
            store.set_track_status("t1", target, reason="matrix")
            assert store.get_track("t1").status == target.value
            events = _events(store, "track_status", "t1")
            assert len(events) == before + 1
            assert (events[-1].from_status, events[-1].to_status) == (current.value, target.value)
            assert events[-1].data.get("reason") == "matrix"
        else:
            with pytest.raises(IllegalTransitionError):
                store.set_track_status("t1", target)
            assert store.get_track("t1").status == current.value
            assert len(_events(store, "track_status", "t1")) == before


@pytest.mark.integration
def test_store_wo_matrix_journals_legal_and_refuses_illegal(store: SQLiteStore) -> None:
    wo = store.add_work_order("demo", WorkOrder(id="", title="one"))
    for current, target in WO_PAIRS:
        _force(store, WorkOrderRow, wo.id, current.value)
        before = len(_events(store, "wo_status", wo.id))
        if (current, target) in WO_LEGAL:
            store.set_wo_status(wo.id, target, reason="matrix")
            assert store.get_work_order(wo.id)[1].status is target
            events = _events(store, "wo_status", wo.id)
            assert len(events) == before + 1
            assert (events[-1].from_status, events[-1].to_status) == (current.value, target.value)
        else:
            with pytest.raises(IllegalTransitionError):
                store.set_wo_status(wo.id, target)
            assert store.get_work_order(wo.id)[1].status is current
            assert len(_events(store, "wo_status", wo.id)) == before


# ------------------------------------------------------------------------- CLI level


def _track_events(home: Path, track: str) -> list[tuple[str, str | None, str | None]]:
    store = SQLiteStore.open(home / "state" / "orchestrator.db", migrate=False)
    try:
        return [(e.kind, e.from_status, e.to_status) for e in _events(store, "track_status", track)]
    finally:
        store.close()


@pytest.mark.integration
def test_cli_legal_transitions_write_events(orch: OrchRunner, project: str) -> None:
    orch.ok("track", "create", "--project", project, "--name", "t1", "--type", "feature")
    assert _track_events(orch.home, "t1") == []
    for command in ("ready", "activate", "pause", "resume", "complete", "archive"):
        orch.ok("track", command, "t1", "--reason", f"test {command}")
    assert _track_events(orch.home, "t1") == [
        ("track_status", "draft", "ready"),
        ("track_status", "ready", "active"),
        ("track_status", "active", "paused"),
        ("track_status", "paused", "active"),
        ("track_status", "active", "completed"),
        ("track_status", "completed", "archived"),
    ]
    orch.ok("track", "create", "--project", project, "--name", "t2", "--type", "feature")
    orch.ok("track", "cancel", "t2")
    assert _track_events(orch.home, "t2") == [("track_status", "draft", "cancelled")]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("setup", "command", "current", "target"),
    [
        ((), "pause", "draft", "paused"),
        ((), "resume", "draft", "active"),
        ((), "complete", "draft", "completed"),
        ((), "activate", "draft", "active"),
        ((), "archive", "draft", "archived"),
        (("ready",), "complete", "ready", "completed"),
        (("ready",), "cancel", "ready", "cancelled"),
        (("ready",), "ready", "ready", "ready"),
        (("cancel",), "ready", "cancelled", "ready"),
        (("cancel",), "archive", "cancelled", "archived"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else v,
)
def test_cli_illegal_transition_changes_nothing(
    orch: OrchRunner,
    project: str,
    setup: tuple[str, ...],
    command: str,
    current: str,
    target: str,
) -> None:
    orch.ok("track", "create", "--project", project, "--name", "t1", "--type", "feature")
    for step in setup:
        orch.ok("track", step, "t1")
    before = db_dump(orch.home)
    result = orch.fails("track", command, "t1")
    assert f"from {current} to {target}" in result.err
    assert db_dump(orch.home) == before
    assert not (orch.home / "workspaces" / project / "t1").exists()


@pytest.mark.integration
def test_cli_import_status_change_goes_through_the_lifecycle(
    orch: OrchRunner, project: str, tmp_path: Path, wo_file: Callable[..., Path]
) -> None:
    path = wo_file(tmp_path / "wos", "WO-2099-001", status="backlog")
    orch.ok("wo", "import", path)
    # backlog -> done is illegal: refused, nothing changed.
    wo_file(tmp_path / "wos", "WO-2099-001", status="done")
    before = db_dump(orch.home)
    result = orch("wo", "import", path)
    # Listed like every refused file: the summary line, then the file with its reason.
    assert result.code == 2 and "Traceback" not in result.err, str(result)
    assert result.err_lines[0] == "orch: error: 1 of 1 work order file is bad:"
    assert "cannot go from backlog to done" in result.err_lines[1]
    assert db_dump(orch.home) == before
    # backlog -> ready is legal and journaled.
    wo_file(tmp_path / "wos", "WO-2099-001", status="ready")
    orch.ok("wo", "import", path)
    assert orch.json("wo", "show", "WO-2099-001")["status"] == "ready"
    store = SQLiteStore.open(orch.home / "state" / "orchestrator.db", migrate=False)
    try:
        events = _events(store, "wo_status", "WO-2099-001")
    finally:
        store.close()
    assert [(e.from_status, e.to_status) for e in events] == [("backlog", "ready")]


@pytest.fixture
def wo_file() -> Callable[..., Path]:
    def write(directory: Path, wo_id: str, status: str = "backlog", title: str = "T") -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{wo_id}_x.md"
        path.write_text(
            f"---\nid: {wo_id}\ntitle: {title}\nstatus: {status}\n---\nbody\n", encoding="utf-8"
        )
        return path

    return write
