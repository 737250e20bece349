"""A dead model backend parks the run, through the real CLI: no login, a refused key, no
connection. No work order spends an attempt on it, and `orch status` says what to do."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import anyio
import pytest

from orchestrator.agents.classify import NOT_LOGGED_IN_LINE
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.runner import run_daemon
from orchestrator.sim import SimServer
from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner
from tests.integration.daemon_kit import open_home
from tests.support.recovery_home import claude_backend

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _home_with_work(home: Path, tmp_path: Path, wos: int = 2) -> None:
    handle = open_home(home)
    try:
        handle.add_project("app", tmp_path / "app")
        handle.add_track("app", "core", wos, activate=False)
    finally:
        handle.store.close()


def _orch_run(home: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "ANTHROPIC_"))}
    env.update(ISOLATED_GIT_ENV)
    env.update({"ORCH_DAEMON_DISPATCH_INTERVAL_S": "0.2", **extra_env})
    cwd = home.parent / "cwd"
    cwd.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(ORCH_SCRIPT), "--home", str(home), "run", "--exit-when-idle"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=240,
    )
    # The probe's CLI works in a directory of its own, never in the user's.
    assert list(cwd.iterdir()) == []
    return done


def _attempts_and_runs(home: Path) -> tuple[dict[str, tuple[str, int]], int]:
    conn = sqlite3.connect(home / "state" / "orchestrator.db")
    try:
        wos = {
            r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, status, attempts FROM work_orders")
        }
        runs = conn.execute("SELECT count(*) FROM agent_runs").fetchone()[0]
    finally:
        conn.close()
    return wos, runs


def _assert_parked(
    home: Path, orch: OrchRunner, done: subprocess.CompletedProcess[str], line: str
) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    ended = [x for x in done.stdout.splitlines() if x.startswith("Run ended")]
    assert len(ended) == 1 and f"parked: {line}" in ended[0], done.stdout
    assert done.returncode == 3, done.stdout  # cron can tell: nothing could run
    assert "Needs attention (run parked, see `orch status`)" in done.stdout
    wos, runs = _attempts_and_runs(home)
    # Caught by the probe before dispatch: no session ran, no attempt was spent.
    assert runs == 0
    assert {status for status, _ in wos.values()} <= {"backlog", "ready"}
    assert {attempts for _, attempts in wos.values()} == {0}
    status = orch.json("status")
    assert [p["scope"] for p in status["parked"]] == ["run"]
    assert status["parked"][0]["reason"] == line
    text = orch.ok("status").out
    assert f"parked (run): {line}" in text


def test_no_login_parks_the_run_before_any_session(
    home: Path, orch: OrchRunner, tmp_path: Path
) -> None:
    _home_with_work(home, tmp_path)
    empty = tmp_path / "no-claude-login"
    empty.mkdir()
    done = _orch_run(
        home,
        {"ORCH_MODEL_BACKEND": "claude", "CLAUDE_CONFIG_DIR": str(empty), "HOME": str(empty)},
    )
    _assert_parked(home, orch, done, NOT_LOGGED_IN_LINE)


@pytest.mark.parametrize(
    ("faults", "says"),
    [("401:1", "refused the credentials (HTTP 401"), ("down:1", "cannot be reached")],
)
def test_a_dead_simulator_parks_the_run(
    home: Path, orch: OrchRunner, tmp_path: Path, faults: str, says: str
) -> None:
    _home_with_work(home, tmp_path)
    done = _orch_run(home, {"ORCH_MODEL_BACKEND": "sim", "ORCH_MODEL_SIM_FAULTS": faults})
    line = orch.json("status")["parked"][0]["reason"]
    assert says in line and line.endswith("then `orch run`")
    _assert_parked(home, orch, done, line)


def test_a_key_refused_mid_run_parks_without_spending_attempts(
    home: Path, orch: OrchRunner, tmp_path: Path
) -> None:
    """The probe passes; then every model request gets 401. The sessions that ran into it
    put their WOs back untouched, and the run parks with the one line."""
    _home_with_work(home, tmp_path, wos=3)
    handle = open_home(home)
    seen: dict[str, object] = {}

    async def main() -> None:
        async with SimServer(seed=3) as sim:

            async def refuse_after_probe() -> None:
                while sim.stats()["count_tokens_requests"] < 1:
                    await anyio.sleep(0.01)
                sim.set_faults("401:1")

            async with anyio.create_task_group() as tg:
                tg.start_soon(refuse_after_probe)
                with anyio.fail_after(200):
                    report = await run_daemon(
                        handle.settings,
                        handle.store,
                        RunOptions(max_agents=2, exit_when_idle=True),
                        backend=claude_backend(handle.settings.owner_id, handle.store, sim),
                    )
                seen["report"] = report.summary
                seen["faults"] = sim.stats()["faults"]

    try:
        anyio.run(main)
    finally:
        handle.store.close()
    summary = seen["report"]
    assert isinstance(summary, dict)
    assert summary["stop_reason"].startswith("parked: the model backend refused the credentials")
    assert summary["work_orders"] == {"done": 0, "failed": 0}
    wos, runs = _attempts_and_runs(home)
    assert runs >= 1, "a session ran into the refused key"
    assert {status for status, _ in wos.values()} <= {"backlog", "ready"}
    assert {attempts for _, attempts in wos.values()} == {0}
    assert orch.json("status")["parked"][0]["reason"] in summary["stop_reason"]
