"""Set-up for the recovery tests and the recovery benchmark.

``make_home`` builds a state home with one project (a small Python package with a test suite)
and tracks of WOs, ready for the daemon. Its check command passes through a *gate*: while the
gate file exists, the check (run by the worker's Bash tool, and later by the daemon itself)
records its arrival and waits, so a test can catch every worker session in the middle of a
tool call, deterministically, and then interrupt, kill or crash whatever it likes.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from orchestrator.config import Settings, load_settings
from orchestrator.daemon.workspace import activate_track
from orchestrator.demo import make_sample_project
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import AgentRunRow, CheckpointRow

ORCH = Path(sys.executable).with_name("orch")
PROJECT = "app"

#: Settings small enough for quick tests on a loaded 2-core box, large enough not to flake.
FAST_CONFIG: dict[str, dict[str, Any]] = {
    "daemon": {
        "max_agents": 9,
        "dispatch_interval_s": 0.3,
        "heartbeat_interval_s": 0.5,
        "lease_ttl_s": 30.0,
        "shutdown_grace_s": 30.0,
        "global_interval_s": 3600.0,
    },
    "limits": {"idle_timeout_s": 90.0, "check_timeout_s": 120.0, "run_wall_clock_s": 600.0},
    "model": {"backend": "sim"},
}


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _toml(config: Mapping[str, Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = repr(value)
            else:
                text = '"' + str(value) + '"'
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


@dataclass
class Gate:
    """A check command that waits while ``closed_file`` exists, after noting its arrival."""

    root: Path
    #: Tracks seen waiting at the gate by their processes (see ``arrived``).
    seen: set[str] = field(default_factory=set)

    @property
    def closed_file(self) -> Path:
        return self.root / "closed"

    @property
    def arrivals(self) -> Path:
        return self.root / "arrived"

    def command(self, then: str) -> str:
        script = self.root / "gate.sh"
        script.write_text(
            "#!/bin/sh\n"
            # A sandboxed check may not write here (only its worktree): arrived() also
            # finds it by its process.
            f"mkdir -p {shlex.quote(str(self.arrivals))} 2>/dev/null\n"
            f'echo $$ 2>/dev/null >> {shlex.quote(str(self.arrivals))}/"$(basename "$PWD")"\n'
            f"while [ -e {shlex.quote(str(self.closed_file))} ]; do sleep 0.1; done\n"
            f"exec {then}\n",
            encoding="utf-8",
        )
        return f"sh {shlex.quote(str(script))}"

    def close(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.closed_file.touch()

    def open(self) -> None:
        self.closed_file.unlink(missing_ok=True)

    def arrived(self) -> set[str]:
        """Tracks whose check is (or was) waiting at the gate: noted in ``arrivals`` where the
        check could write, else seen as a live gate process (its cwd is the worktree)."""
        self.seen |= self._waiting_now()
        if self.arrivals.is_dir():
            self.seen |= {p.name for p in self.arrivals.iterdir()}
        return set(self.seen)

    def _waiting_now(self) -> set[str]:
        script = str(self.root / "gate.sh")
        waiting = set()
        for process in psutil.process_iter(["cmdline"]):
            with suppress(psutil.Error):
                if script in (process.info["cmdline"] or []):
                    waiting.add(Path(process.cwd()).name)
        return waiting

    def reset_arrivals(self) -> None:
        self.seen.clear()
        if self.arrivals.is_dir():
            for path in self.arrivals.iterdir():
                path.unlink()


@dataclass
class RecoveryHome:
    path: Path
    project_dir: Path
    gate: Gate
    tracks: dict[str, list[str]] = field(default_factory=dict)
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return load_settings(self.path, env={})

    def store(self) -> SQLiteStore:
        return SQLiteStore.open(self.settings.db_path)

    @property
    def db(self) -> Path:
        return self.path / "state" / "orchestrator.db"

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            with conn:
                return list(conn.execute(query, args))
        finally:
            conn.close()

    def worktree(self, track: str) -> Path:
        return self.settings.workspaces_dir / PROJECT / track

    def runs(self, role: str | None = "worker") -> list[AgentRunRow]:
        store = self.store()
        try:
            return [r for r in store.list_runs() if role is None or r.role == role]
        finally:
            store.close()

    def checkpoints(self, track: str) -> list[CheckpointRow]:
        from sqlmodel import col, select

        store = self.store()
        try:
            with store.reading() as session:
                return list(
                    session.exec(
                        select(CheckpointRow)
                        .where(CheckpointRow.track_id == track)
                        .order_by(col(CheckpointRow.id))
                    )
                )
        finally:
            store.close()

    def wo_statuses(self) -> dict[str, str]:
        return dict(self.sql("SELECT id, status FROM work_orders"))  # type: ignore[arg-type]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
        env.update(extra)
        return env

    def orch(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """The installed ``orch`` in a subprocess against this home."""
        return subprocess.run(
            [str(ORCH), "--home", str(self.path), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
        )

    @contextmanager
    def daemon(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """``orch run`` in a subprocess (its own process group); killed if still alive."""
        log = (self.path / "daemon.out").open("a")
        proc = subprocess.Popen(
            [str(ORCH), "--home", str(self.path), "run", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            log.close()

    def daemon_output(self) -> str:
        path = self.path / "daemon.out"
        return path.read_text() if path.exists() else ""


def make_home(
    root: Path,
    tracks: Mapping[str, int],
    *,
    check: str | None = None,
    gated: bool = True,
    activate: bool = True,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> RecoveryHome:
    """A home with project ``app`` and one track per entry (``name: number of WOs``)."""
    root.mkdir(parents=True, exist_ok=True)
    project_dir = root / "app"
    make_sample_project(project_dir)
    home = root / "home"
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in FAST_CONFIG.items()}
    for section, values in (config or {}).items():
        merged.setdefault(section, {}).update(values)
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "orchestrator.toml").write_text(_toml(merged), encoding="utf-8")
    gate = Gate(root / "gate")
    gate.root.mkdir(parents=True, exist_ok=True)
    real_check = check if check is not None else f"{shlex.quote(sys.executable)} -m pytest -q"
    command = gate.command(real_check) if gated else real_check
    result = RecoveryHome(home, project_dir, gate, config=merged)
    settings = result.settings
    for folder in (settings.workspaces_dir, settings.logs_dir, settings.reports_dir):
        folder.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore.open(settings.db_path)
    try:
        store.add_project(PROJECT, str(project_dir), "main", command)
        for name, count in tracks.items():
            ids = [
                store.add_work_order(PROJECT, WorkOrder(id="", title=f"{name} part {n}")).id
                for n in range(1, count + 1)
            ]
            store.create_track(PROJECT, name, "feature", goal=f"the {name} work")
            store.assign(name, ids)
            store.set_track_status(name, TrackStatus.READY, reason="test")
            if activate:
                activate_track(store, settings.workspaces_dir, name, "test")
            result.tracks[name] = ids
    finally:
        store.close()
    return result


def agent_pids(owner: str) -> list[int]:
    from orchestrator.agents.processes import find_agent_processes

    return [p.pid for p in find_agent_processes(owner)]


def kill_agents(owner: str) -> None:
    """Test clean-up: nothing marked with ``owner`` survives the test."""
    for pid in agent_pids(owner):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- a daemon that died (kill -9) ------------------------------------------------------------

DEAD_DAEMON = "daemon-999999-deadbeef"


def dead_pid() -> int:
    """The pid of a process that has exited (a killed daemon's)."""
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=30)
    return proc.pid


def seed_crash(
    home: RecoveryHome,
    track: str,
    *,
    wo_id: str | None = None,
    session_id: str | None = None,
    files: Mapping[str, str] | None = None,
    daemon_id: str = DEAD_DAEMON,
) -> str:
    """What a daemon killed mid-session leaves: the WO claimed, its run ``running`` under the
    dead daemon (session id committed), work on disk, a ``wo_start`` checkpoint of it, and
    the lease still held by the dead pid. Returns the run id."""
    import socket

    from orchestrator.daemon.checkpoints import write_checkpoint_sync
    from orchestrator.git.repo import GitRepo

    store = home.store()
    try:
        wo = wo_id or home.tracks[track][0]
        run = store.claim_work_order(wo, track, daemon_id)
        if session_id is not None:
            store.record_run(run.id, session_id=session_id, cost_usd=0.01)
        worktree = home.worktree(track)
        for rel, text in (files or {}).items():
            target = worktree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        write_checkpoint_sync(
            store,
            GitRepo(home.project_dir),
            track,
            worktree,
            run_id=run.id,
            wo_id=wo,
            attempt=run.attempt,
            session_id=session_id,
            cost_usd=0.01,
            reason="wo_start",
        )
        store.acquire_lease(daemon_id, dead_pid(), socket.gethostname(), 3600.0)
        return run.id
    finally:
        store.close()


# -- scripted agents (FakeRuntime) -----------------------------------------------------------


def fake_scripts(
    worker: Callable[[Any], list[Any]] | None = None,
) -> Callable[[Any], list[Any]]:
    """Scripts by role: the global agent sets equal weights, the project agent queues every
    ready WO, the worker (default) writes ``wo/<id>.txt`` and reports done."""
    from orchestrator.agents.fake_runtime import CallTool, Finish, Write
    from orchestrator.domain.payload import find_payload
    from orchestrator.domain.roles import Role

    def payload(spec: Any) -> dict[str, Any]:
        found = find_payload(spec.user_prompt)
        assert found is not None, spec.user_prompt[:300]
        return found

    def simple_worker(spec: Any) -> list[Any]:
        wo = payload(spec)["wo"]
        return [
            Write(f"wo/{wo['id']}.txt", f"{wo['title']}\n"),
            CallTool("report_result", {"status": "done", "summary": f"did {wo['id']}"}),
            Finish(cost_usd=0.01, input_tokens=100, output_tokens=10),
        ]

    def script(spec: Any) -> list[Any]:
        if spec.role is Role.WORKER:
            return (worker or simple_worker)(spec)
        if spec.role is Role.PROJECT:
            data = payload(spec)
            ids = [w["id"] for w in data["ready_work_orders"]]
            return [
                CallTool(
                    "choose_work_orders",
                    {"track_id": data["track"]["id"], "wo_ids": ids, "reason": "in order"},
                ),
                Finish(),
            ]
        tracks = [t["id"] for t in payload(spec)["tracks"]]
        weights = [{"track_id": t, "weight": 1.0} for t in tracks]
        return [
            CallTool("set_track_priorities", {"weights": weights, "reason": "equal"}),
            Finish(),
        ]

    return script


def fake_backend(runtime: Any) -> Any:
    from orchestrator.daemon.backend import Backend

    return Backend(runtime=runtime, session_env={})


def fake_context(home: RecoveryHome, store: SQLiteStore, runtime: Any) -> Any:
    """A daemon context for calling ``recover(ctx)`` directly (the caller holds no lease)."""
    import anyio
    import structlog

    from orchestrator.daemon.context import DaemonContext, RunOptions

    return DaemonContext(
        settings=home.settings,
        store=store,
        runtime=runtime,
        daemon_id="daemon-test-recover",
        options=RunOptions(max_agents=8),
        limiter=anyio.CapacityLimiter(8),
        log=structlog.get_logger("orchestrator.daemon"),
    )


# -- the real CLI against an in-process simulator --------------------------------------------


def claude_backend(owner: str, store: SQLiteStore, sim: Any) -> Any:
    """What ``open_backend`` builds for ``sim``, but with a simulator the test controls."""
    from orchestrator.agents.claude_runtime import ClaudeRuntime
    from orchestrator.daemon.backend import Backend
    from orchestrator.sim import sim_env

    def record(pid: int, spec: Any) -> None:
        if spec.run_id is not None:
            store.record_run(spec.run_id, cli_pid=pid)

    runtime = ClaudeRuntime(owner=owner, on_process_started=record)
    return Backend(runtime=runtime, session_env=sim_env(sim.base_url), sim_url=sim.base_url)
