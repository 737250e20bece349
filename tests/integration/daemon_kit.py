"""Shared set-up for the daemon tests: a home with projects, tracks and WOs, scripted agents.

The daemon under test is always the real one (``run_daemon``: supervisor, dispatch, claims,
worktrees, checks, commits, merges); only the model is replaced, by a ``FakeRuntime`` whose
scripts are functions of the session's payload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlmodel import col, select

from orchestrator.agents.fake_runtime import CallTool, FakeRuntime, Finish, Step, Write
from orchestrator.agents.protocol import SessionSpec
from orchestrator.config import Settings, load_settings, with_overrides
from orchestrator.daemon.backend import Backend
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.report import RunReport
from orchestrator.daemon.runner import run_daemon
from orchestrator.daemon.workspace import activate_track
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.payload import find_payload
from orchestrator.domain.roles import Role
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import AgentRunRow, EventRow, WorkOrderRow
from tests.conftest import git, init_git_repo

#: Timings small enough for fast tests, large enough for a 2-core box under load.
FAST_DAEMON = {
    "dispatch_interval_s": 0.2,
    "heartbeat_interval_s": 0.2,
    "lease_ttl_s": 30.0,
    "shutdown_grace_s": 10.0,
}


def fast_settings(home: Path, **daemon: Any) -> Settings:
    settings = load_settings(home, env={})
    settings = with_overrides(settings, "daemon", **{**FAST_DAEMON, **daemon})
    return with_overrides(settings, "limits", idle_timeout_s=60.0, check_timeout_s=60.0)


@dataclass
class Home:
    """A state home (``orch init`` done) with its settings and an open store."""

    path: Path
    settings: Settings
    store: SQLiteStore
    repos: dict[str, Path] = field(default_factory=dict)

    def add_project(
        self, name: str, repo: Path, check: str = "", files: dict[str, str] | None = None
    ) -> Path:
        init_git_repo(repo, files)
        self.store.add_project(name, str(repo), "main", check)
        self.repos[name] = repo
        return repo

    def add_track(
        self,
        project: str,
        name: str,
        wos: int | Sequence[str],
        *,
        priority: int = 3,
        activate: bool = True,
    ) -> list[str]:
        """A track with ``wos`` new WOs (a count, or their titles); returns the WO ids."""
        titles = [f"{name} task {n}" for n in range(1, wos + 1)] if isinstance(wos, int) else wos
        ids = [
            self.store.add_work_order(project, WorkOrder(id="", title=title)).id for title in titles
        ]
        self.store.create_track(project, name, "feature", goal=f"{name} goal", priority=priority)
        self.store.assign(name, ids)
        self.store.set_track_status(name, TrackStatus.READY, reason="test")
        if activate:
            activate_track(self.store, self.settings.workspaces_dir, name, "test")
        return ids

    # -- reading state back ------------------------------------------------------------------

    def events(self, kind: str | None = None) -> list[EventRow]:
        with self.store.reading() as session:
            query = select(EventRow).order_by(col(EventRow.id))
            if kind is not None:
                query = query.where(EventRow.kind == kind)
            return list(session.exec(query))

    def runs(self, role: str | None = None) -> list[AgentRunRow]:
        with self.store.reading() as session:
            query = select(AgentRunRow).order_by(col(AgentRunRow.started_at))
            if role is not None:
                query = query.where(AgentRunRow.role == role)
            return list(session.exec(query))

    def wo(self, wo_id: str) -> WorkOrderRow:
        with self.store.reading() as session:
            row = session.get(WorkOrderRow, wo_id)
            assert row is not None
            return row

    def wo_statuses(self) -> dict[str, str]:
        return {w["id"]: w["status"] for w in self.store.list_work_orders()}

    def assert_nothing_live(self) -> None:
        """No run left live, no WO left running: the run ended cleanly."""
        live = self.store.live_runs()
        assert not live, [(r.id, r.role, r.status) for r in live]
        running = [w for w, s in self.wo_statuses().items() if s == "running"]
        assert not running, running
        assert self.store.integrity_ok()

    def worker_order(self) -> list[str]:
        """The track of every worker run, in the order the runs were claimed."""
        return [
            str(e.data["track"])
            for e in self.events("run_started")
            if e.data.get("role") == "worker"
        ]


def open_home(home: Path, store_url: str = "", **daemon: Any) -> Home:
    """The home's settings and store; ``store_url`` puts its state elsewhere (PostgreSQL)."""
    settings = with_overrides(fast_settings(home, **daemon), "store", url=store_url)
    return Home(home, settings, SQLiteStore.open(settings.store_url))


# -- scripted agents ---------------------------------------------------------------------------


def payload_of(spec: SessionSpec) -> dict[str, Any]:
    payload = find_payload(spec.user_prompt)
    assert payload is not None, spec.user_prompt[:500]
    return payload


def choose_all(spec: SessionSpec) -> list[Step]:
    """A project agent that queues every ready WO of its track, in the order offered."""
    payload = payload_of(spec)
    ids = [w["id"] for w in payload["ready_work_orders"]]
    return [
        CallTool(
            "choose_work_orders",
            {"track_id": payload["track"]["id"], "wo_ids": ids, "reason": "in order"},
        ),
        Finish(),
    ]


def set_weights(weights: dict[str, float]) -> Callable[[SessionSpec], list[Step]]:
    """A global agent that sets ``weights`` for the tracks it is shown (others: 1)."""

    def script(spec: SessionSpec) -> list[Step]:
        tracks = [t["id"] for t in payload_of(spec)["tracks"]]
        entries = [{"track_id": t, "weight": weights.get(t, 1.0)} for t in tracks]
        return [
            CallTool("set_track_priorities", {"weights": entries, "reason": "test weights"}),
            Finish(),
        ]

    return script


def simple_worker(spec: SessionSpec) -> list[Step]:
    """Writes ``wo/<id>.txt`` and reports done."""
    wo = payload_of(spec)["wo"]
    return [
        Write(f"wo/{wo['id']}.txt", f"{wo['title']}\n"),
        CallTool("report_result", {"status": "done", "summary": f"did {wo['id']}"}),
        Finish(cost_usd=0.01, input_tokens=100, output_tokens=10),
    ]


Script = Callable[[SessionSpec], Sequence[Step]]


def by_role(
    worker: Script = simple_worker,
    project: Script = choose_all,
    global_: Script | None = None,
) -> Callable[[SessionSpec], Sequence[Step]]:
    roles: dict[Role, Script] = {
        Role.WORKER: worker,
        Role.PROJECT: project,
        Role.GLOBAL: global_ or set_weights({}),
    }
    return lambda spec: roles[spec.role](spec)


def fake_backend(scripts: Callable[[SessionSpec], Sequence[Step]]) -> tuple[Backend, FakeRuntime]:
    runtime = FakeRuntime(scripts)
    return Backend(runtime=runtime, session_env={}), runtime


async def run_fake(
    home: Home,
    scripts: Callable[[SessionSpec], Sequence[Step]],
    options: RunOptions | None = None,
    timeout: float = 60.0,
) -> tuple[RunReport, FakeRuntime]:
    """The real daemon with scripted agents, bounded by ``timeout``."""
    backend, runtime = fake_backend(scripts)
    options = options or RunOptions(max_agents=2, exit_when_idle=True)
    with anyio.fail_after(timeout):
        report = await run_daemon(home.settings, home.store, options, backend=backend)
    return report, runtime


# -- git ---------------------------------------------------------------------------------------


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def replace_settings(home: Home, section: str, **values: Any) -> None:
    home.settings = with_overrides(home.settings, section, **values)
