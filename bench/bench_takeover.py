"""Benchmark of a takeover between daemons (a script, not a test): a host dies, another
takes its track over. Needs PostgreSQL on 127.0.0.1:5432 (see the README).

Each round builds what ``tests/integration/test_hosts_takeover.py`` builds: three homes
sharing one fresh PostgreSQL database and one bare remote, each running ``orch run`` (real
Claude Code CLIs against the simulator), four tracks of the sample backlog. When a worker
session waits at the gate (its check mid tool call), its daemon is SIGKILLed with its agents
and the gate opens. Timed from the kill, from the database's own records:

- the lease stolen: the ``track_lease_stolen`` event of the killed host's track;
- the track's next session: the first worker run a survivor starts on it (the resumed
  session; its first request at the simulator follows after a CLI start, ~1 s alone).

Expect about the lease's time to live (``daemon.lease_ttl_s``, 6 s here, as in the tests),
counted from the dead host's last heartbeat (up to 0.5 s before the kill), plus up to one of
the thief's heartbeats. The run then goes to its end and is checked like the test.

Usage::

    .venv/bin/python bench/bench_takeover.py [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.recovery_home import wait_for  # noqa: E402
from tests.support.shared_hosts import (  # noqa: E402
    SHARED_CONFIG,
    Kill,
    SharedRun,
    aware,
    check_shared_run,
    shared_run,
    worker_at_the_gate,
)


def _kill_at_the_gate(run: SharedRun) -> Kill:
    live = wait_for(lambda: worker_at_the_gate(run), 300, "a live worker session at the gate")
    victim = run.host_of_pid(live.daemon_pid)
    assert victim is not None and victim.proc is not None
    os.killpg(victim.proc.pid, signal.SIGKILL)
    kill = Kill(
        victim.host_id,
        victim.proc.pid,
        live.id,
        live.track_id,
        live.wo_id,
        datetime.now(UTC),
    )
    victim.proc.wait(timeout=30)
    run.gate.open()
    return kill


def _stolen_at(run: SharedRun, kill: Kill) -> datetime | None:
    rows = run.sql(
        "SELECT at, data FROM events WHERE kind = 'track_lease_stolen' AND subject_id = %s",
        kill.track_id,
    )
    times = [aware(r[0]) for r in rows if r[1].get("previous") == kill.host_id]
    return min(times) if times else None


def _next_session_at(run: SharedRun, kill: Kill) -> datetime | None:
    rows = run.sql(
        "SELECT started_at FROM agent_runs WHERE role = 'worker' AND track_id = %s"
        " AND started_at > %s ORDER BY started_at LIMIT 1",
        kill.track_id,
        kill.at,
    )
    return aware(rows[0][0]) if rows else None


def one_round(root: Path, url: str) -> tuple[float, float, float]:
    """(kill → lease stolen, kill → next session, the whole run) in seconds."""
    with shared_run(root, url, hosts=3, gated=True) as run:
        started = time.monotonic()
        for host in run.hosts:
            run.start(host, "--max-agents", "2")
        kill = _kill_at_the_gate(run)
        stolen = wait_for(lambda: _stolen_at(run, kill), 120, "the lease to be stolen")
        resumed = wait_for(lambda: _next_session_at(run, kill), 120, "the track's next session")
        survivors = [h for h in run.hosts if h.proc is not None and h.host_id != kill.host_id]
        wait_for(
            lambda: all(h.proc is not None and h.proc.poll() is not None for h in survivors),
            600,
            "the surviving daemons to finish",
        )
        took = time.monotonic() - started
        check_shared_run(run, kill)
    return (
        (stolen - kill.at).total_seconds(),
        (resumed - kill.at).total_seconds(),
        took,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-takeover-"))
    daemon = SHARED_CONFIG["daemon"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}; lease_ttl_s {daemon['lease_ttl_s']}, "
        f"heartbeat_interval_s {daemon['heartbeat_interval_s']}"
    )
    stolen, resumed = [], []
    for n in range(args.rounds):
        with fresh_database() as url:
            steal_s, resume_s, took = one_round(base / f"round-{n}", url)
        stolen.append(steal_s)
        resumed.append(resume_s)
        print(
            f"round {n + 1}: lease stolen {steal_s:.2f} s, next session {resume_s:.2f} s "
            f"after the kill; run {took:.1f} s (checked), load {os.getloadavg()[0]:.1f}"
        )
    print(
        f"kill -> lease stolen: median {statistics.median(stolen):.2f} s "
        f"(max {max(stolen):.2f}); kill -> the track's next session: median "
        f"{statistics.median(resumed):.2f} s (max {max(resumed):.2f}), {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
