"""`orch logs`: filters refuse unknown ids, --lines counts after filtering, --json, and -f
waits for a log that does not exist yet."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.roles import Role
from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner, db_dump

pytestmark = pytest.mark.integration


def log_path(home: Path) -> Path:
    return home / "state" / "logs" / "orchestrator.jsonl"


def entry(n: int, **fields: Any) -> dict[str, Any]:
    return {"event": f"e{n}", "timestamp": f"2026-12-02T01:00:{n:02d}", "level": "info", **fields}


@pytest.fixture
def logged(orch: OrchRunner, project: str) -> tuple[OrchRunner, str]:
    """A home with track t1, a run of it, and a log of 30 lines (every third one about t1)."""
    orch.ok("track", "create", "--project", project, "--name", "t1", "--type", "feature")
    store = SQLiteStore.open(orch.home / "state" / "orchestrator.db")
    try:
        run_id = store.start_run(Role.PROJECT, "d1", project_id=project, track_id="t1").id
    finally:
        store.close()
    lines = [
        entry(n, track_id="t1", run_id=run_id) if n % 3 == 0 else entry(n, track_id="other")
        for n in range(30)
    ]
    log_path(orch.home).write_text("".join(json.dumps(e) + "\n" for e in lines))
    return orch, run_id


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--run", "nope"], "nope"),
        (["--track", "nope"], "unknown track 'nope'"),
        (["--lines", "-5"], "--lines"),
        (["-f", "--track", "nope"], "unknown track 'nope'"),
    ],
)
def test_bad_filters_are_refused(
    logged: tuple[OrchRunner, str], args: list[str], said: str
) -> None:
    orch, _ = logged
    before = db_dump(orch.home)
    result = orch.fails("logs", *args)
    assert said in result.err
    assert db_dump(orch.home) == before


def test_lines_counts_the_filtered_lines(logged: tuple[OrchRunner, str]) -> None:
    orch, run_id = logged
    out = orch.ok("logs", "--track", "t1", "--lines", "3").out.splitlines()
    assert [line.split()[2] for line in out] == ["e21", "e24", "e27"]
    by_run = orch.ok("logs", "--run", run_id, "--lines", "2").out.splitlines()
    assert [line.split()[2] for line in by_run] == ["e24", "e27"]
    assert len(orch.ok("logs", "--lines", "4").out.splitlines()) == 4
    assert orch.ok("logs", "--lines", "0").out == ""


def test_json_is_the_log_entries(logged: tuple[OrchRunner, str]) -> None:
    orch, run_id = logged
    data = orch.json("logs", "--run", run_id, "--lines", "2")
    assert data == [
        entry(24, track_id="t1", run_id=run_id),
        entry(27, track_id="t1", run_id=run_id),
    ]


def test_no_log_yet(orch: OrchRunner, home: Path) -> None:
    log_path(home).unlink(missing_ok=True)
    assert "No log yet." in orch.ok("logs").out
    assert orch.json("logs") == []


def test_escape_codes_in_the_log_are_shown_escaped(logged: tuple[OrchRunner, str]) -> None:
    orch, _ = logged
    with log_path(orch.home).open("a") as handle:
        handle.write(json.dumps(entry(31, title="evil\x1b[31m")) + "\n")
    out = orch.ok("logs", "--lines", "1").out
    assert "\x1b" not in out and "evil\\x1b[31m" in out


def test_follow_waits_for_the_log_to_appear(home: Path) -> None:
    path = log_path(home)
    path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV)
    proc = subprocess.Popen(
        [str(ORCH_SCRIPT), "--home", str(home), "logs", "-f", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # It must still be waiting (not exited with "No log yet") when the log appears.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        with path.open("w") as handle:  # the first line may arrive in two writes
            handle.write('{"event": "daemon_started", ')
            handle.flush()
            handle.write('"level": "info"}\n')
        assert proc.stdout is not None
        watchdog = threading.Timer(30, proc.kill)  # bounds the blocking read below
        watchdog.start()
        line = proc.stdout.readline()
        watchdog.cancel()
        assert json.loads(line) == {"event": "daemon_started", "level": "info"}
    finally:
        proc.kill()
        proc.wait(timeout=10)
