"""Several hosts on one PostgreSQL database and one bare remote (issue 14's acceptance test).

Homes on one machine, each with its own state, workspaces and clone, run the sample backlog
with the real daemon (``orch run``) and the real Claude Code CLI against the simulator. One
daemon alone first (the harness: a home that clones the project from the remote, every WO
done and merged through it); then three, one of which is SIGKILLed while its worker session
is live: the others take over its tracks and every WO is done exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.postgres import pg_url  # noqa: F401  (fixture)
from tests.support.recovery_home import wait_for
from tests.support.shared_hosts import (
    Host,
    Kill,
    SharedRun,
    WorkerRun,
    check_shared_run,
    shared_run,
    worker_at_the_gate,
    worker_runs,
)

pytestmark = [pytest.mark.integration]


@pytest.mark.timeout(600)
def test_one_host_runs_the_backlog_through_the_remote(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """The second home has no checkout: its daemon clones the project from the remote,
    works every track and merges each through the remote."""
    with shared_run(tmp_path, pg_url, hosts=2) as run:
        host = run.hosts[1]
        started = time.monotonic()
        proc = run.start(host)
        wait_for(lambda: proc.poll() is not None, 420, "the daemon to finish")
        took = time.monotonic() - started
        assert proc.returncode == 0, run.outputs()
        assert (host.home / "clones" / "app" / ".git").is_dir()
        figures = check_shared_run(run)
        print(f"one host: {took:.1f} s, {figures}")


def _no_daemon_failed(run: SharedRun, killed: Host | None = None) -> None:
    """No daemon (but the one the test killed) has exited with an error."""
    failed = [
        h.host_id
        for h in run.hosts
        if h is not killed and h.proc is not None and h.proc.poll() not in (None, 0)
    ]
    assert not failed, f"daemons of {failed} exited early:\n{run.outputs()}"


def _thieves(run: SharedRun, kill: Kill) -> set[str]:
    """The hosts that stole the killed host's lease on the track it was working."""
    rows = run.sql(
        "SELECT data FROM events WHERE kind = 'track_lease_stolen' AND subject_id = %s",
        kill.track_id,
    )
    return {str(r[0]["host"]) for r in rows if r[0].get("previous") == kill.host_id}


@pytest.mark.timeout(900)
def test_a_killed_hosts_tracks_are_taken_over_and_every_wo_is_done_once(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """Three daemons; the one whose worker reaches the (closed) gate first is SIGKILLed with
    its agents while the session is live. The others steal its track leases, rebuild its
    worktree from the remote and finish its work: every WO done once, never two runs of one
    WO at a time, every track merged once."""
    with shared_run(tmp_path, pg_url, hosts=3, gated=True) as run:
        started = time.monotonic()
        for host in run.hosts:
            run.start(host, "--max-agents", "2")

        def at_gate() -> WorkerRun | None:
            _no_daemon_failed(run)
            return worker_at_the_gate(run)

        live = wait_for(at_gate, 300, "a live worker session at the gate")
        victim = run.host_of_pid(live.daemon_pid)
        assert victim is not None and victim.proc is not None
        os.killpg(victim.proc.pid, signal.SIGKILL)
        at = datetime.now(UTC)
        kill = Kill(victim.host_id, victim.proc.pid, live.id, live.track_id, live.wo_id, at)
        victim.proc.wait(timeout=30)
        survivors = [h for h in run.hosts if h is not victim]
        run.gate.open()

        # The killed host's track is taken over, not left alone: a survivor steals its
        # lease within a few lease lifetimes.
        def stolen() -> set[str]:
            _no_daemon_failed(run, killed=victim)
            return _thieves(run, kill)

        thieves = wait_for(stolen, 120, f"a survivor to steal {victim.host_id}'s lease")
        assert thieves <= {h.host_id for h in survivors}, thieves

        def finished() -> bool:
            _no_daemon_failed(run, killed=victim)
            return all(h.proc is not None and h.proc.poll() is not None for h in survivors)

        wait_for(finished, 600, "the surviving daemons to finish")
        took = time.monotonic() - started
        figures = check_shared_run(run, kill)

        # ... and the very WO its session was working on was finished by a survivor.
        (finisher,) = [
            w for w in worker_runs(run) if w.wo_id == kill.wo_id and w.status == "succeeded"
        ]
        survivor_pids = {h.proc.pid for h in survivors if h.proc is not None}
        assert finisher.daemon_pid in survivor_pids, (finisher, kill)
        after_kill = [w for w in worker_runs(run) if w.started_at > kill.at]
        assert after_kill and {w.daemon_pid for w in after_kill} <= survivor_pids
        # It resumed the killed run's session (its transcript is in the shared database).
        killed_run = run.sql("SELECT status, session_id FROM agent_runs WHERE id = %s", kill.run_id)
        resumed = run.sql(
            "SELECT resumed_from, session_id FROM agent_runs WHERE id = %s", finisher.id
        )
        assert resumed == [(kill.run_id, killed_run[0][1])], (resumed, killed_run)
        print(f"three hosts, {victim.host_id} killed: {took:.1f} s, {figures}")
