"""Benchmark of claim contention and track takeover on one shared database (a script).

Claims: ``--daemons`` processes (default 3) x ``--slots`` threads (default 8), each thread
with its own engine as a daemon's slots would be, drain ``--wos`` WOs (default 10,000)
spread over ``--tracks`` tracks: pick a track, ask for its next startable WO (the daemon's
``track_work`` read), claim it, settle it done (which frees the track). Prints claims per
second, double claims (WOs with more than one run: must be 0), lost races, and the p50/p99
latency of ``claim_work_order``.

Takeover: a host process takes a track lease (time to live ``--ttl`` s) and renews it every
``ttl/5`` s; it is SIGKILLed; a second host polls for expired leases every ``--poll`` s and
steals the track. Prints the time from the kill to the steal (the lease part of a takeover:
the new host then rebuilds the worktree and resumes the session).

Usage::

    .venv/bin/python bench/bench_claims.py [--url postgresql+psycopg://...] [--sqlite]
        [--daemons 3] [--slots 8] [--wos 10000] [--tracks 240] [--ttl 5] [--poll 0.25]

Without ``--url`` it creates a database ``orch_bench_<random>`` on the PostgreSQL server at
127.0.0.1:5432 (trust auth) and drops it afterwards; ``--sqlite`` uses a temporary SQLite
file instead.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import select

from orchestrator.domain.lifecycle import RunStatus, TrackStatus, WOStatus
from orchestrator.store.claims import ClaimConflictError
from orchestrator.store.sqlite_store import open_store
from orchestrator.store.tables import AgentRunRow, WorkOrderRow, WOTrackRow

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    if args.url:
        yield args.url
        return
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="orch-bench-claims-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'shared.db'}"
        return
    import psycopg

    name = f"orch_bench_{uuid.uuid4().hex[:12]}"
    admin = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backlog(url: str, wos: int, tracks: int) -> None:
    """``wos`` WOs over ``tracks`` active tracks, inserted in bulk (the set-up is not timed)."""
    store = open_store(url)
    store.add_project("p", "/nonexistent/p", "main", "")
    names = [f"t{n}" for n in range(tracks)]
    for name in names:
        store.create_track("p", name, "feature")
        store.set_track_status(name, TrackStatus.READY)
        store.set_track_status(name, TrackStatus.ACTIVE)
    ids = [f"WO-2026-{n + 1:05d}" for n in range(wos)]
    with store.writing() as session:
        session.execute(
            insert(WorkOrderRow),
            [WorkOrderRow(id=i, project_id="p", title=i, status="ready").model_dump() for i in ids],
        )
        session.execute(
            insert(WOTrackRow),
            [
                WOTrackRow(wo_id=i, track_id=names[n % tracks]).model_dump()
                for n, i in enumerate(ids)
            ],
        )
    store.close()


def slot(url: str, daemon: int, n: int, out: Any, start: Any) -> None:
    """One slot: claim and settle until no track has startable work."""
    store = open_store(url, migrate=False)
    rng = random.Random(daemon * 1000 + n)
    latencies: list[float] = []
    lost = 0
    start.wait()
    idle_rounds = 0
    while idle_rounds < 3:
        work = [w for w in store.track_work() if w.startable and not w.running]
        if not work:
            idle_rounds += 1
            time.sleep(0.05)
            continue
        idle_rounds = 0
        rng.shuffle(work)
        for track in work[:4]:
            wo_id = track.startable[0]["id"]
            began = time.perf_counter()
            try:
                run = store.claim_work_order(wo_id, track.track.id, f"bench-{daemon}")
            except ClaimConflictError:
                lost += 1
                continue
            except Exception as exc:  # an illegal move: the WO was settled meanwhile
                if "IllegalTransition" in type(exc).__name__:
                    lost += 1
                    continue
                raise
            latencies.append(time.perf_counter() - began)
            store.finish_run(run.id, RunStatus.SUCCEEDED, wo_status=WOStatus.DONE)
    store.close()
    out.put((latencies, lost))


def daemon_process(url: str, daemon: int, slots: int, out: Any, start: Any) -> None:
    threads = [
        threading.Thread(target=slot, args=(url, daemon, n, out, start)) for n in range(slots)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bench_claims(url: str, args: argparse.Namespace) -> None:
    backlog(url, args.wos, args.tracks)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(args.daemons * args.slots + 1)
    procs = [
        ctx.Process(target=daemon_process, args=(url, d, args.slots, out, start))
        for d in range(args.daemons)
    ]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    results = [out.get() for _ in range(args.daemons * args.slots)]
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    lost = sum(n for _, n in results)
    store = open_store(url, migrate=False)
    with store.reading() as session:
        per_wo = Counter(session.exec(select(AgentRunRow.wo_id)).all())
    done = sum(1 for w in store.list_work_orders() if w["status"] == WOStatus.DONE.value)
    store.close()
    doubles = sum(1 for n in per_wo.values() if n > 1)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"claims: {len(latencies)} in {elapsed:.1f} s = {len(latencies) / elapsed:.0f} claims/s")
    print(f"  WOs done {done}/{args.wos}; double claims {doubles}; lost races {lost}")
    print(
        f"  claim latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    if doubles or done != args.wos:
        sys.exit("FAILED: a WO was claimed twice or left undone")


def holder(url: str, ttl: float, ready: Any) -> None:
    store = open_store(url, migrate=False)
    store.acquire_track_lease("t0", "host-a", ttl)
    ready.set()
    while True:
        time.sleep(ttl / 5)
        store.renew_track_leases("host-a", ttl)


def bench_takeover(url: str, args: argparse.Namespace, rounds: int = 3) -> None:
    store = open_store(url, migrate=False)
    store.register_host("host-a", "bench", "/a", None)
    store.register_host("host-b", "bench", "/b", None)
    ctx = mp.get_context("spawn")
    figures = []
    for _ in range(rounds):
        with contextlib.suppress(Exception):
            store.release_track_lease("t0", "host-b")
        ready = ctx.Event()
        proc = ctx.Process(target=holder, args=(url, args.ttl, ready))
        proc.start()
        ready.wait(60)
        time.sleep(args.ttl)  # a lease renewed a few times: the holder is alive and well
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.perf_counter()
        proc.join()
        while True:
            if store.expired_track_leases("host-b") and store.steal_track_lease(
                "t0", "host-b", args.ttl
            ):
                break
            time.sleep(args.poll)
        figures.append(time.perf_counter() - killed)
    store.close()
    print(
        f"takeover (lease ttl {args.ttl:g} s, poll {args.poll:g} s): kill -> steal "
        + ", ".join(f"{f:.2f} s" for f in figures)
        + f" (median {statistics.median(figures):.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--wos", type=int, default=10_000)
    parser.add_argument("--tracks", type=int, default=240)
    parser.add_argument("--ttl", type=float, default=5.0)
    parser.add_argument("--poll", type=float, default=0.25)
    args = parser.parse_args()
    with database(args) as url:
        shape = f"{args.daemons} processes x {args.slots} threads"
        print(f"{shape}, {args.wos} WOs over {args.tracks} tracks, {url.split(':')[0]}")
        bench_claims(url, args)
        bench_takeover(url, args)


if __name__ == "__main__":
    main()
