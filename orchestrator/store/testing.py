"""The store conformance suite: what every backend of ``store.contract.Store`` must do.

In the spirit of ``claude_agent_sdk.testing.run_session_store_conformance``: a backend's test
calls :func:`run_store_conformance` with a factory of fresh, empty, migrated stores; each
contract gets its own store (closed afterwards) and fails with an ``AssertionError`` naming
the contract. No pytest needed; a backend under development can run one contract by name.

The contracts check behaviour through the Protocol only (never tables or SQL), so the same
suite holds SQLite and PostgreSQL to the same rules.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.domain.checkpoint import CheckpointRecord
from orchestrator.domain.errors import (
    DaemonRunningError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
)
from orchestrator.domain.lifecycle import RunStatus, TrackStatus, WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.organization import OrganizeMode
from orchestrator.domain.project import Project
from orchestrator.domain.proposal import validate_proposal
from orchestrator.domain.run import Run
from orchestrator.store.claims import ClaimConflictError
from orchestrator.store.contract import Store

#: The project every contract starts from (the path is only recorded, never opened).
PROJECT = "conf"
#: Threads racing for one claim: more than the SQLite pool's connections by default.
CLAIMERS = 8
#: Bound of every wait on a condition (a lease to expire), in seconds.
WAIT_S = 10.0

Contract = Callable[[Store], None]


def _raises(
    kinds: type[BaseException] | tuple[type[BaseException], ...], call: Callable[[], Any]
) -> BaseException:
    try:
        call()
    except kinds as exc:
        return exc
    raise AssertionError(f"expected {kinds}, the call returned normally")


def _unchanged(
    store: Store,
    call: Callable[[], Any],
    kinds: type[BaseException] | tuple[type[BaseException], ...],
) -> BaseException:
    """``call`` raises one of ``kinds`` and journals nothing (a refused call changes nothing)."""
    before = [e.id for e in store.events_after(0, limit=100_000)]
    error = _raises(kinds, call)
    after = [e.id for e in store.events_after(0, limit=100_000)]
    assert after == before, f"{type(error).__name__} ({error}) but the journal grew"
    return error


def _project(store: Store) -> None:
    store.add_project(PROJECT, f"/nonexistent/{PROJECT}", "main", "true")


def _wo(store: Store, title: str, **fields: Any) -> str:
    return store.add_work_order(PROJECT, WorkOrder(id="", title=title, **fields)).id


def _track(store: Store, name: str) -> str:
    return store.create_track(PROJECT, name, "feature", goal=f"goal of {name}").id


def _ready_wo_on_track(store: Store, title: str, track: str) -> str:
    wo = _wo(store, title)
    store.assign(track, [wo])
    store.set_wo_status(wo, WOStatus.READY, reason="conformance")
    return wo


# ------------------------------------------------------------------------------ contracts


def projects_work_orders_and_tracks(store: Store) -> None:
    _project(store)
    assert [p.id for p in store.list_projects()] == [PROJECT]
    project = store.get_project(PROJECT)
    assert isinstance(project, Project) and project.base_branch == "main"
    assert project.created_at.tzinfo is not None, "times leave the store aware (UTC)"
    first = _wo(store, "First", priority=1, tags=("a",))
    second = _wo(store, "Second", depends_on=(first,))
    assert first != second and {first, second} <= store.wo_ids()
    assert store.wo_dependencies().get(second) == (first,)
    _row, wo, tracks = store.get_work_order(second)
    assert (wo.title, wo.depends_on, wo.status, tracks) == (
        "Second",
        (first,),
        WOStatus.BACKLOG,
        [],
    )
    track = _track(store, "alpha")
    assert store.assign(track, [first, second]) == 2
    assert store.get_work_order(first)[2] == [track]
    assert store.get_track(track).status == TrackStatus.DRAFT
    [listed] = store.list_tracks(PROJECT)
    assert (listed["id"], listed["wo_count"], listed["done_count"]) == (track, 2, 0)
    [domain_track] = store.tracks(PROJECT)
    assert domain_track.id == track and domain_track.status is TrackStatus.DRAFT
    store.set_track_status(track, TrackStatus.READY, reason="conformance")
    assert store.get_track(track).status == TrackStatus.READY
    assert store.track_counts(PROJECT) == {TrackStatus.READY.value: 1}
    assert store.wo_counts(PROJECT) == {WOStatus.BACKLOG.value: 2}
    assert [w["id"] for w in store.list_work_orders(project=PROJECT, track=track)] == [
        first,
        second,
    ]


def claim_exactly_once(store: Store) -> None:
    """Of ``CLAIMERS`` threads claiming the same WOs at once, exactly one wins each."""
    _project(store)
    tracks = [_track(store, f"t{i}") for i in range(3)]
    wos = [_ready_wo_on_track(store, f"WO {i}", t) for i, t in enumerate(tracks)]
    start = threading.Barrier(CLAIMERS)
    won: list[tuple[str, str]] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        start.wait(timeout=WAIT_S)
        for wo, track in zip(wos, tracks, strict=True):
            try:
                run = store.claim_work_order(wo, track, f"daemon-{n}")
            except ClaimConflictError:
                continue
            except BaseException as exc:
                with lock:
                    unexpected.append(exc)
                continue
            with lock:
                won.append((wo, run.id))

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_S * 6)
    assert not any(t.is_alive() for t in threads), "a claimer did not finish"
    assert not unexpected, f"{len(unexpected)} claims raised, e.g. {unexpected[:2]!r}"
    assert sorted(wo for wo, _ in won) == sorted(wos), f"claims: {won}"
    live = store.live_runs()
    assert sorted(r.wo_id or "" for r in live) == sorted(wos)
    for wo in wos:
        assert store.get_work_order(wo)[1].status is WOStatus.RUNNING


def claim_refused_while_live(store: Store) -> None:
    _project(store)
    track = _track(store, "one")
    wo = _ready_wo_on_track(store, "A", track)
    other = _ready_wo_on_track(store, "B", track)
    store.claim_work_order(wo, track, "d1")
    _unchanged(store, lambda: store.claim_work_order(wo, track, "d2"), ClaimConflictError)
    # One worker per track: another WO of the same track waits too.
    _unchanged(store, lambda: store.claim_work_order(other, track, "d2"), ClaimConflictError)
    assert store.get_work_order(other)[1].status is WOStatus.READY


def settle_a_run(store: Store) -> None:
    _project(store)
    track = _track(store, "settle")
    done_wo = _ready_wo_on_track(store, "to be done", track)
    run = store.claim_work_order(done_wo, track, "d1")
    store.record_run(run.id, session_id="sess-1", cost_usd=0.25, turns=3)
    store.finish_run(run.id, RunStatus.SUCCEEDED, summary="ok", wo_status=WOStatus.DONE)
    settled = store.get_run(run.id)
    assert (settled.status, settled.session_id, settled.cost_usd) == ("succeeded", "sess-1", 0.25)
    # Runs leave the store as the domain type: status an enum, times aware UTC.
    assert isinstance(settled, Run) and settled.status is RunStatus.SUCCEEDED
    assert (settled.daemon_id, settled.wo_id, settled.track_id) == ("d1", done_wo, track)
    assert settled.ended_at is not None and settled.ended_at.utcoffset() == timedelta(0)
    assert settled.started_at.utcoffset() == timedelta(0)
    assert [r.id for r in store.list_runs(status=RunStatus.SUCCEEDED.value)] == [run.id]
    assert store.get_work_order(done_wo)[1].status is WOStatus.DONE
    assert store.live_runs() == []
    assert store.session_runs("sess-1") == [run.id]
    # The track is free again, and a done WO is never claimed again.
    _unchanged(
        store,
        lambda: store.claim_work_order(done_wo, track, "d2"),
        (ClaimConflictError, IllegalTransitionError),
    )
    failing = _ready_wo_on_track(store, "to fail", track)
    second = store.claim_work_order(failing, track, "d2")
    store.finish_run(second.id, RunStatus.FAILED, error="boom", wo_status=WOStatus.FAILED)
    assert store.get_work_order(failing)[1].status is WOStatus.FAILED
    assert store.wo_outcomes([failing])[failing].last_error is not None
    assert [r.id for r in store.runs_of_wo(failing)] == [second.id]


def checkpoints_round_trip(store: Store) -> None:
    _project(store)
    track = _track(store, "cp")
    assert store.latest_good_checkpoint(track) == (None, [])
    assert store.next_checkpoint_number(track) == 1
    records = [
        CheckpointRecord(
            track_id=track,
            run_id=None,
            wo_id=None,
            attempt=n,
            session_id=f"s{n}",
            head_sha="a" * 40,
            snapshot_ref=f"refs/orch/checkpoints/{track}/{n}",
            snapshot_sha="b" * 40,
            cost_usd=0.5 * n,
            reason=f"checkpoint {n}",
        )
        for n in (1, 2)
    ]
    assert store.last_checkpoint_id(track) is None
    ids = [store.add_checkpoint(record).id for record in records]
    assert store.next_checkpoint_number(track) == 3
    assert store.last_checkpoint_id(track) == ids[-1]
    assert store.last_checkpoint_id(_track(store, "cp-other")) is None
    newest, corrupt = store.latest_good_checkpoint(track)
    assert corrupt == [] and newest is not None
    assert newest.checksum == records[1].checksum()
    assert (newest.session_id, newest.snapshot_ref, newest.cost_usd) == (
        "s2",
        records[1].snapshot_ref,
        1.0,
    )


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.01)


def daemon_lease(store: Store) -> None:
    # A holder on another machine is trusted until its lease expires.
    store.acquire_lease("A", os.getpid(), "elsewhere", ttl_s=60)
    _unchanged(store, lambda: store.acquire_lease("B", 1, "here", ttl_s=60), DaemonRunningError)
    assert store.beat("A", 60) is None
    assert store.beat("B", 60) is not None, "a non-holder's heartbeat must fail"
    store.acquire_lease("A", os.getpid(), "elsewhere", ttl_s=0)
    _wait_until(lambda: not store.lease_is_live(store.current_lease()), "the lease expires")
    store.acquire_lease("B", 1, "elsewhere", ttl_s=60)
    lost = store.beat("A", 60)
    assert lost is not None and "B" in lost, lost
    store.release_lease("A")  # not A's: changes nothing
    assert store.lease_is_live(store.current_lease())
    store.release_lease("B")
    assert not store.lease_is_live(store.current_lease())
    _lease_per_host(store)


def _lease_per_host(store: Store) -> None:
    """Homes sharing the database each hold their own lease: one daemon per home."""
    placed = store.here
    try:
        for host in ("host-a", "host-b"):
            store.place_here(host, Path("/nonexistent/clones"))
            store.acquire_lease(f"D-{host}", os.getpid(), "elsewhere", ttl_s=60)
            _unchanged(
                store, lambda: store.acquire_lease("D2", 1, "elsewhere", 60), DaemonRunningError
            )
        assert {"D-host-a", "D-host-b"} <= store.live_daemons()
        assert store.request_stop() is not None  # host-b's daemon only
        assert store.beat("D-host-b", 60) is not None
        store.place_here("host-a", Path("/nonexistent/clones"))
        assert store.beat("D-host-a", 60) is None, "another home's stop reached this one"
        lease = store.current_lease()
        assert lease is not None and lease.holder == "D-host-a"
        store.release_lease("D-host-a")
        assert "D-host-a" not in store.live_daemons()
        assert "D-host-a" in store.dead_daemons() and "D-host-b" not in store.dead_daemons()
    finally:
        store.here = placed


def track_leases(store: Store) -> None:
    _project(store)
    track = _track(store, "leased")
    for host in ("h1", "h2"):
        store.register_host(host, f"{host}.example", f"/homes/{host}", None)
    lease = store.acquire_track_lease(track, "h1", ttl_s=60)
    assert lease is not None and lease.host_id == "h1"
    assert store.acquire_track_lease(track, "h2", ttl_s=60) is None
    assert store.steal_track_lease(track, "h2", ttl_s=60) is None, "stole a live lease"
    assert store.track_lease(track) is not None
    assert store.expire_host_leases("h1") == [track]
    assert [x.track_id for x in store.expired_track_leases("h2")] == [track]
    takeover = store.steal_track_lease(track, "h2", ttl_s=60)
    assert takeover is not None and takeover.lease.host_id == "h2"
    assert store.steal_track_lease(track, "h1", ttl_s=60) is None
    assert [x.track_id for x in store.renew_track_leases("h1", 60)] == []
    assert store.release_track_lease(track, "h1") is False
    assert store.release_track_lease(track, "h2") is True
    assert store.track_lease(track) is None


def events_in_order(store: Store) -> None:
    _project(store)
    wo = _wo(store, "journaled")
    track = _track(store, "journal")
    store.assign(track, [wo])
    store.set_track_status(track, TrackStatus.READY, reason="offered")
    events = store.events_after(0)
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    kinds = [e.kind for e in events]
    expected = ["project_added", "wo_created", "track_created", "track_status"]
    positions = [kinds.index(k) for k in expected]
    assert positions == sorted(positions), kinds
    moved = next(e for e in events if e.kind == "track_status")
    assert (moved.subject_id, moved.from_status, moved.to_status) == (track, "draft", "ready")
    assert store.events_after(ids[-1]) == []
    assert store.events_after(ids[-3]) == events[-2:]
    assert store.recent_events(2) == events[-2:]


def proposals_apply(store: Store) -> None:
    _project(store)
    wo = _wo(store, "to organize")
    state = store.org_state(PROJECT)
    proposal = validate_proposal(
        state,
        OrganizeMode.INITIAL,
        {
            "tracks": [{"key": "core", "name": "core", "goal": "The core", "type": "feature"}],
            "assignments": [{"wo_id": wo, "tracks": ["core"]}],
            "recommendations": [],
        },
    )
    row = store.add_proposal(PROJECT, OrganizeMode.INITIAL, state.fingerprint(), proposal.to_json())
    proposal_id = row.id
    assert proposal_id is not None
    assert [p.id for p in store.list_proposals(PROJECT, status="pending")] == [proposal_id]
    result = store.apply_proposal(proposal_id)
    assert not result.stale, result
    created = result.created["core"]
    assert store.get_track(created).name == "core"
    assert store.get_work_order(wo)[2] == [created]
    assert store.get_proposal(proposal_id).status == "approved"
    _raises(ValidationError, lambda: store.apply_proposal(proposal_id))


def unknown_ids(store: Store) -> None:
    _project(store)
    calls: dict[str, Callable[[], Any]] = {
        "get_project": lambda: store.get_project("nope"),
        "get_work_order": lambda: store.get_work_order("WO-2099-999"),
        "get_track": lambda: store.get_track("nope"),
        "set_track_status": lambda: store.set_track_status("nope", TrackStatus.READY),
        "set_wo_status": lambda: store.set_wo_status("WO-2099-999", WOStatus.READY),
        "get_run": lambda: store.get_run("run-nope"),
        "get_proposal": lambda: store.get_proposal(999_999),
        "assign": lambda: store.assign("nope", []),
        "add_work_order": lambda: store.add_work_order("nope", WorkOrder(id="", title="x")),
        "create_track": lambda: store.create_track("nope", "x", "feature"),
        "get_experiment": lambda: store.get_experiment("nope"),
    }
    for name, call in calls.items():
        error = _unchanged(store, call, NotFoundError)
        assert str(error).strip(), f"{name}: an empty message"


def bad_values(store: Store) -> None:
    _project(store)
    track = _track(store, "good")
    wo = _wo(store, "good")
    calls: dict[str, tuple[Callable[[], Any], type[BaseException]]] = {
        "duplicate project": (
            lambda: store.add_project(PROJECT, "/elsewhere", "main", "true"),
            ValidationError,
        ),
        "track type": (lambda: store.create_track(PROJECT, "x", "no-such-type"), ValidationError),
        "track name": (lambda: store.create_track(PROJECT, "../up", "feature"), ValidationError),
        "duplicate track": (
            lambda: store.create_track(PROJECT, "good", "feature"),
            ValidationError,
        ),
        "WO id": (
            lambda: store.add_work_order(PROJECT, WorkOrder(id="bad id", title="x")),
            ValidationError,
        ),
        "duplicate WO": (
            lambda: store.add_work_order(PROJECT, WorkOrder(id=wo, title="x")),
            ValidationError,
        ),
        "track lifecycle": (
            lambda: store.set_track_status(track, TrackStatus.COMPLETED),
            IllegalTransitionError,
        ),
        "WO lifecycle": (lambda: store.set_wo_status(wo, WOStatus.DONE), IllegalTransitionError),
    }
    for name, (call, kind) in calls.items():
        try:
            _unchanged(store, call, kind)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
    assert store.get_track(track).status == TrackStatus.DRAFT
    assert store.get_work_order(wo)[1].status is WOStatus.BACKLOG


#: Every contract, in the order they run.
STORE_CONTRACTS: dict[str, Contract] = {
    fn.__name__: fn
    for fn in (
        projects_work_orders_and_tracks,
        claim_exactly_once,
        claim_refused_while_live,
        settle_a_run,
        checkpoints_round_trip,
        daemon_lease,
        track_leases,
        events_in_order,
        proposals_apply,
        unknown_ids,
        bad_values,
    )
}


def run_store_conformance(
    make_store: Callable[[], Store], *, only: frozenset[str] | None = None
) -> None:
    """Assert every store contract (or those named in ``only``) on fresh stores.

    ``make_store`` returns an empty, migrated store each call; it is closed after its
    contract. A failure is an ``AssertionError`` naming the contract.
    """
    unknown = (only or frozenset()) - set(STORE_CONTRACTS)
    assert not unknown, f"unknown contracts: {sorted(unknown)}"
    for name, contract in STORE_CONTRACTS.items():
        if only is not None and name not in only:
            continue
        store = make_store()
        try:
            contract(store)
        except AssertionError as exc:
            raise AssertionError(f"store contract {name!r}: {exc}") from exc
        except Exception as exc:
            raise AssertionError(f"store contract {name!r} raised {exc!r}") from exc
        finally:
            store.close()
