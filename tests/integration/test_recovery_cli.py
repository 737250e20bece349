"""Recovery with the real Claude Code CLI (claude-agent-sdk) against the simulator.

Each worker's check command waits at a gate (see ``tests/support/recovery_home.py``), so the
tests catch every session in the middle of a Bash tool call and then kill its CLI, stop the
daemon, kill the daemon, or take the model down, and check that the very same sessions
resume (by session id, their history in the resumed requests) and every WO completes once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.runner import run_daemon
from orchestrator.sim import SimServer
from orchestrator.store.sqlite_store import SQLiteStore
from tests.support.invariants import check_invariants
from tests.support.recovery_home import (
    ORCH,
    RecoveryHome,
    agent_pids,
    claude_backend,
    kill_agents,
    make_home,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

RECOVERY_TEXT = "Your session was interrupted and has now been resumed"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RecoveryHome]:
    made = make_home(tmp_path, {"alpha": 1, "beta": 1})
    made.gate.close()
    yield made
    made.gate.open()
    kill_agents(made.settings.owner_id)


# -- helpers -----------------------------------------------------------------------------------


async def until(condition: Any, timeout: float, what: str) -> Any:
    with anyio.fail_after(timeout):
        while True:
            value = condition()
            if value:
                return value
            await anyio.sleep(0.1)
    raise AssertionError(what)  # pragma: no cover


def _texts(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if block.get("type") == "text":
            out.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            out.append(json.dumps(inner) if not isinstance(inner, str) else inner)
    return out


def _tool_uses(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    uses = []
    for message in body.get("messages", []):
        if message.get("role") != "assistant" or isinstance(message.get("content"), str):
            continue
        for block in message["content"]:
            if block.get("type") == "tool_use":
                uses.append((str(block["name"]), dict(block.get("input") or {})))
    return uses


def _requests_for(sim: SimServer, track: str, since: int = 0) -> list[dict[str, Any]]:
    """Worker requests (after the first ``since``) whose payload names ``track``'s worktree."""
    marker = f"/workspaces/app/{track}"
    return [b for b in sim.requests("worker")[since:] if marker in json.dumps(b["messages"][:1])]


def _first_with(bodies: list[dict[str, Any]], text: str) -> dict[str, Any]:
    for body in bodies:
        if any(text in t for m in body["messages"] for t in _texts(m)):
            return body
    raise AssertionError(f"no request carries {text!r}")


def _writes(body: dict[str, Any]) -> set[str]:
    return {
        Path(str(args.get("file_path"))).name for name, args in _tool_uses(body) if name == "Write"
    }


def _worker_runs(store: SQLiteStore) -> dict[str, list[Any]]:
    runs: dict[str, list[Any]] = {}
    for run in store.list_runs():
        if run.role == "worker":
            runs.setdefault(str(run.track_id), []).append(run)
    for track in runs.values():
        track.sort(key=lambda r: r.started_at)
    return runs


# -- the CLI child dies mid tool call ----------------------------------------------------------


def test_sigkill_of_the_cli_mid_tool_call_is_noticed_and_the_session_resumes(
    home: RecoveryHome,
) -> None:
    store = home.store()
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with SimServer(seed=11, keep_requests=500) as sim:
            backend = claude_backend(home.settings.owner_id, store, sim)

            async def killer() -> None:
                await until(lambda: "alpha" in home.gate.arrived(), 120, "alpha at the gate")
                run = next(r for r in store.live_runs() if r.track_id == "alpha")
                assert run.cli_pid is not None and run.session_id is not None
                seen["run"], seen["session"] = run.id, run.session_id
                seen["before"] = len(sim.requests("worker"))
                os.kill(run.cli_pid, signal.SIGKILL)
                seen["killed"] = time.monotonic()
                # The next request of alpha's session is the resumed attempt's.
                await until(
                    lambda: _requests_for(sim, "alpha", seen["before"]), 90, "a resumed request"
                )
                seen["resumed"] = time.monotonic()
                home.gate.open()

            with capture_logs() as logs:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(killer)
                    with anyio.fail_after(300):
                        report = await run_daemon(
                            home.settings,
                            store,
                            RunOptions(max_agents=3, exit_when_idle=True),
                            backend=backend,
                        )
            seen["logs"], seen["report"] = logs, report
            seen["after"] = _requests_for(sim, "alpha", seen["before"])

    try:
        anyio.run(main)
        runs = _worker_runs(store)
    finally:
        store.close()
    # The same run and session went on: the loss of the CLI was noticed and retried by
    # resuming the session, not by failing the attempt or starting over.
    assert [r.id for r in runs["alpha"]] == [seen["run"]]
    alpha = runs["alpha"][0]
    assert alpha.status == "succeeded" and alpha.session_id == seen["session"]
    assert seen["resumed"] - seen["killed"] < 60
    retries = [
        e for e in seen["logs"] if e["event"] == "agent_retry" and e.get("track_id") == "alpha"
    ]
    assert retries, [e["event"] for e in seen["logs"]]
    # The resumed request carries the session's history: the files it wrote before.
    resumed = seen["after"][0]
    assert {"wo_2026_001.py", "test_wo_2026_001.py"} <= _writes(resumed)
    assert seen["report"].summary["work_orders"] == {"done": 2, "failed": 0}
    check_invariants(home.path)


# -- graceful stop, then the same sessions resume ---------------------------------------------


def test_orch_stop_then_run_resumes_the_same_sessions_with_history_even_without_cli_files(
    home: RecoveryHome,
) -> None:
    """`orch stop` mid tool call: checkpoints, runs interrupted, lease released, no CLI left.
    The next run resumes each session by its id; alpha's CLI transcript files are deleted in
    between, so its history can only come from our SessionStore mirror."""
    store = home.store()
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with SimServer(seed=12, keep_requests=500) as sim:

            async def stopper() -> None:
                await until(lambda: home.gate.arrived() >= {"alpha", "beta"}, 150, "the gate")
                seen["asked"] = time.monotonic()
                assert store.request_stop() is not None  # what `orch stop` does

            async with anyio.create_task_group() as tg:
                tg.start_soon(stopper)
                with anyio.fail_after(300):
                    await run_daemon(
                        home.settings,
                        store,
                        RunOptions(max_agents=3),
                        backend=claude_backend(home.settings.owner_id, store, sim),
                    )
            seen["stopped"] = time.monotonic()
            seen["first"] = {t: list(r) for t, r in _worker_runs(store).items()}
            seen["orphans"] = agent_pids(home.settings.owner_id)
            lease = store.current_lease()
            seen["lease_live"] = store.lease_is_live(lease)
            # alpha's CLI transcript is gone (a wiped config dir, another machine).
            run_alpha = seen["first"]["alpha"][0]
            shutil.rmtree(home.path / "state" / "claude-config" / run_alpha.id)
            home.gate.open()
            seen["before"] = len(sim.requests("worker"))
            with capture_logs() as logs, anyio.fail_after(300):
                seen["report"] = await run_daemon(
                    home.settings,
                    store,
                    RunOptions(max_agents=3, exit_when_idle=True),
                    backend=claude_backend(home.settings.owner_id, store, sim),
                )
            seen["logs"] = logs
            seen["resumed"] = {t: _requests_for(sim, t, seen["before"]) for t in ("alpha", "beta")}

    try:
        anyio.run(main)
        checkpoints = {t: store.latest_good_checkpoint(t)[0] for t in ("alpha", "beta")}
        runs = _worker_runs(store)
    finally:
        store.close()

    # The stop: bounded, every session interrupted and checkpointed, nothing left behind.
    assert seen["stopped"] - seen["asked"] < home.settings.daemon.shutdown_grace_s
    assert not seen["lease_live"]
    assert seen["orphans"] == []
    for track in ("alpha", "beta"):
        (first,) = seen["first"][track]
        assert first.status == "interrupted" and first.session_id
        stop_checkpoint = next(
            c for c in home.checkpoints(track) if c.reason == "interrupted" and c.run_id == first.id
        )
        assert stop_checkpoint.session_id == first.session_id
        assert stop_checkpoint.snapshot_ref is not None  # the files written so far
        assert checkpoints[track] is not None

    # The resume: the same session ids, the recovery prompt after the earlier history.
    assert not [e for e in seen["logs"] if e["event"] == "agent_resume_not_found"]
    for track, wo_module in (("alpha", "wo_2026_001.py"), ("beta", "wo_2026_002.py")):
        first, second = runs[track]
        assert second.resumed_from == first.id
        assert second.session_id == first.session_id
        assert second.status == "succeeded"
        body = _first_with(seen["resumed"][track], RECOVERY_TEXT)
        assert wo_module in _writes(body), f"{track}: the resumed request lacks its history"
        # The recovery prompt says what happened, the worktree's state, and what the session
        # had done (a summary of the mirrored transcript, for a fresh session to go on from).
        prompt = next(t for m in body["messages"] for t in _texts(m) if RECOVERY_TEXT in t)
        assert "Worktree state now: HEAD " in prompt and wo_module in prompt
        assert f"- called Write {home.worktree(track)}/wo/{wo_module}" in prompt
        bash = [a for n, a in _tool_uses(body) if n == "Bash"]
        assert bash and "gate.sh" in bash[0]["command"]
    assert seen["report"].summary["work_orders"] == {"done": 2, "failed": 0}
    check_invariants(home.path)


# -- the daemon is killed; `orch recover` resumes ----------------------------------------------


def test_daemon_sigkill_then_orch_recover_resumes_by_session_id_or_starts_fresh(
    home: RecoveryHome,
) -> None:
    """kill -9 of `orch run` mid tool call. alpha's CLI transcript is deleted: its session
    resumes by its id from our SessionStore mirror (written frame by frame). beta loses both
    the CLI's transcript and the mirror, so nothing can resume it and a fresh session takes
    over. Orphans are ended."""
    with home.daemon() as daemon:
        wait_for(lambda: home.gate.arrived() >= {"alpha", "beta"}, 150, "the gate")
        first = {r.track_id: r for r in home.runs()}
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
    # Whatever of the agents outlived the daemon (unconfined Bash at the gate did; in the
    # sandbox it dies with its CLI) must be ended by recovery before anything starts.
    orphans = agent_pids(home.settings.owner_id)
    for track in ("alpha", "beta"):
        shutil.rmtree(home.path / "state" / "claude-config" / first[track].id)
    for table in ("transcript_entries", "transcripts"):
        home.sql(f"DELETE FROM {table} WHERE session_id = ?", first["beta"].session_id)

    dry = home.orch("recover", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plans = {p["track"]: p for p in json.loads(dry.stdout)}
    for track in ("alpha", "beta"):
        assert plans[track]["action"] == f"resume session {first[track].session_id}"

    log = home.path / "state" / "logs" / "orchestrator.jsonl"

    def events() -> list[dict[str, Any]]:
        text = log.read_text() if log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    recover = subprocess.Popen(
        [str(ORCH), "--home", str(home.path), "recover"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=home.env(),
    )
    try:
        # The gate stays closed until recovery has ended the dead daemon's orphans.
        wait_for(
            lambda: not set(orphans) & set(agent_pids(home.settings.owner_id)), 60, "no orphans"
        )
        home.gate.open()
        _out, err = recover.communicate(timeout=400)
    finally:
        if recover.poll() is None:
            recover.kill()
            recover.communicate()
    assert recover.returncode == 0, err
    assert "Traceback" not in err
    runs = {r.track_id: r for r in home.runs() if r.resumed_from}
    assert runs["alpha"].session_id == first["alpha"].session_id
    assert runs["alpha"].status == "succeeded"
    assert runs["beta"].session_id != first["beta"].session_id
    assert runs["beta"].status == "succeeded"
    assert any(
        e["event"] == "agent_resume_not_found" and e.get("track_id") == "beta" for e in events()
    )
    assert set(home.wo_statuses().values()) == {"done"}
    # The next run finishes (merges) both tracks.
    final = home.orch("run", "--exit-when-idle", timeout=300)
    assert final.returncode == 0, final.stderr
    assert dict(home.sql("SELECT id, status FROM tracks")) == {
        "alpha": "completed",
        "beta": "completed",
    }
    check_invariants(home.path)


# -- signals -----------------------------------------------------------------------------------


def test_sigterm_stops_gracefully_within_the_bound(home: RecoveryHome) -> None:
    with home.daemon() as daemon:
        wait_for(lambda: home.gate.arrived() >= {"alpha", "beta"}, 150, "the gate")
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=home.settings.daemon.shutdown_grace_s + 30)
        took = time.monotonic() - asked
    assert code == 0, home.daemon_output()[-3000:]
    assert took < home.settings.daemon.shutdown_grace_s
    store = home.store()
    try:
        runs = _worker_runs(store)
        lease = store.current_lease()
        assert lease is not None and not store.lease_is_live(lease)
        assert store.live_runs() == []
        for track in ("alpha", "beta"):
            (run,) = runs[track]
            assert run.status == "interrupted" and run.session_id
            good, _ = store.latest_good_checkpoint(track)
            assert good is not None and good.reason == "interrupted"
            assert good.session_id == run.session_id
        assert store.integrity_ok()
    finally:
        store.close()
    assert agent_pids(home.settings.owner_id) == []
    assert set(home.wo_statuses().values()) == {"ready"}
    home.gate.open()
    final = home.orch("run", "--exit-when-idle", timeout=300)
    assert final.returncode == 0, final.stderr
    check_invariants(home.path)


def test_a_second_signal_exits_at_once_and_leaves_the_db_consistent(home: RecoveryHome) -> None:
    with home.daemon() as daemon:
        wait_for(lambda: home.gate.arrived() >= {"alpha", "beta"}, 150, "the gate")
        asked = time.monotonic()
        # Two different signals, back to back: they cannot merge into one pending signal, and
        # the second arrives before the graceful stop (which can take well under a second)
        # is over.
        daemon.send_signal(signal.SIGINT)
        time.sleep(0.01)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
        took = time.monotonic() - asked
    assert code == 130, home.daemon_output()[-3000:]
    assert took < 10
    store = home.store()
    try:
        assert store.integrity_ok()
        for run in store.list_runs():
            # Every run is either settled or still live under the dead daemon: recoverable.
            assert run.status in {"running", "interrupted", "succeeded"}, run
    finally:
        store.close()
    home.gate.open()
    recovered = home.orch("recover", timeout=400)
    assert recovered.returncode == 0, recovered.stderr
    final = home.orch("run", "--exit-when-idle", timeout=300)
    assert final.returncode == 0, final.stderr
    check_invariants(home.path)


# -- a model outage ----------------------------------------------------------------------------


def test_a_model_outage_parks_the_work_and_it_completes(home: RecoveryHome) -> None:
    """The simulator answers 529 for longer than the session retries last, then recovers:
    no WO fails and no attempt is spent; each session is resumed once the model is back."""
    home.gate.open()
    store = home.store()
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with SimServer(seed=13, faults="529:1.0", keep_requests=500) as sim:

            def all_parked() -> bool:
                runs = _worker_runs(store)
                return set(runs) == {"alpha", "beta"} and all(
                    any(r.status in {"interrupted", "resumed"} for r in track_runs)
                    for track_runs in runs.values()
                )

            async def heal() -> None:
                # The outage lasts until every track's work is parked: it outlasted the
                # session's retries (a condition, not a guess at how long they take).
                with anyio.fail_after(300):
                    while not all_parked():
                        await anyio.sleep(0.2)
                seen["faults"] = sim.stats()["faults"]
                sim.set_faults("")

            async with anyio.create_task_group() as tg:
                tg.start_soon(heal)
                with anyio.fail_after(400):
                    seen["report"] = await run_daemon(
                        home.settings,
                        store,
                        RunOptions(max_agents=3, exit_when_idle=True),
                        backend=claude_backend(home.settings.owner_id, store, sim),
                    )

    try:
        anyio.run(main)
        runs = _worker_runs(store)
        attempts = dict(home.sql("SELECT id, attempts FROM work_orders"))
    finally:
        store.close()
    assert seen["faults"].get("529", 0) >= 10
    assert seen["report"].summary["work_orders"] == {"done": 2, "failed": 0}
    for track, track_runs in runs.items():
        assert [r.status for r in track_runs if r.status == "failed"] == [], track
        parked = [r for r in track_runs if r.status in {"interrupted", "resumed"}]
        assert parked, f"{track}: the outage outlasted the retries, so the work was parked"
        assert "the model is unavailable" in (parked[0].error or "")
        assert track_runs[-1].status == "succeeded"
        assert track_runs[-1].session_id == parked[0].session_id
    assert set(attempts.values()) == {1}
    check_invariants(home.path)
