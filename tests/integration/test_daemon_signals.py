"""Stop signals as GNU ``timeout`` sends them (SIGTERM to the child, then to its group): one
graceful stop, not a hard exit; and APScheduler's per-job chatter stays out of the log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sigterm_to_child_and_group_is_one_graceful_stop(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    orch.ok("project", "add", make_repo("demo"))
    # A worker in flight when the signals come: the graceful stop has a session to drain.
    wo_id = orch.ok("wo", "add", "--title", "Some work").out.split()[1].rstrip(":")
    orch.ok("track", "create", "--project", "demo", "--name", "t", "--type", "feature")
    orch.ok("track", "assign", "t", wo_id)
    orch.ok("track", "ready", "t")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV)
    env["ORCH_DAEMON_HEARTBEAT_INTERVAL_S"] = "0.2"
    proc = subprocess.Popen(
        [str(ORCH_SCRIPT), "--home", str(home), "run", "--model-backend", "sim"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
    )
    log = home / "state" / "logs" / "orchestrator.jsonl"
    store = SQLiteStore.open(home / "state" / "orchestrator.db", migrate=False)
    try:
        _wait(lambda: store.lease_is_live(store.current_lease()), 60, "the daemon's lease")
        _wait(lambda: any(r.role == "worker" for r in store.live_runs()), 90, "a live worker run")
        os.kill(proc.pid, signal.SIGTERM)
        # Two pending SIGTERMs would merge into one: the group's copy is sent once the first
        # is being handled, as it is when `timeout` signals the child and then the group.
        _wait(lambda: "stop_requested" in log.read_text(), 30, "the stop request")
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    assert "Run ended (signal SIGTERM)" in out
    assert "Traceback" not in err
    # Graceful: the lease is released and nothing is left marked live.
    assert not store.lease_is_live(store.current_lease())
    assert store.live_runs() == []
    (run,) = [r for r in store.list_runs() if r.role == "worker"]
    assert run.status in {"interrupted", "succeeded"}
    store.close()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e.get("event") == "stop_requested" for e in lines)
    chatter = [
        e
        for e in lines
        if "apscheduler" in str(e.get("logger", "")) or "Running job" in str(e.get("event", ""))
    ]
    assert chatter == []
