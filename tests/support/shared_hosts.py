"""Several state homes ("hosts") on one machine sharing one PostgreSQL database and one bare
git remote, each running the real daemon (``orch run``) in a subprocess against the simulator.

``make_shared_run`` builds the sample project, the bare remote, the homes (each with its own
config pointing at the database, ``orch init --host-id hN``), adds the project from the first
home with the remote, and imports a part of the sample backlog as tracks by first tag. The
other homes clone the project from the remote when their daemon starts.

``check_shared_run`` asserts what a run across hosts must leave, from the database itself (SQL,
not the store's API) and from the remote: every WO done by exactly one succeeded run, no two
runs of one WO (or one track) at the same time, every track merged once, the remote's base
branch holding one commit per WO, ``git fsck`` clean, nothing live.
"""

from __future__ import annotations

import itertools
import os
import shlex
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from orchestrator.config import load_settings
from orchestrator.daemon.worker_run import WO_TRAILER
from orchestrator.demo import make_sample_project
from orchestrator.samples import SAMPLE_WORK_ORDERS
from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner
from tests.support.recovery_home import Gate, kill_agents

PROJECT = "app"

#: The part of the sample backlog the tests run: four tracks (by first tag) of two WOs each,
#: the second depending on the first.
SAMPLE_TRACKS: dict[str, tuple[str, ...]] = {
    "runner": ("WO-2026-001", "WO-2026-002"),
    "economy": ("WO-2026-004", "WO-2026-005"),
    "search": ("WO-2026-013", "WO-2026-014"),
    "tech-tree": ("WO-2026-015", "WO-2026-016"),
}

#: Short leases so that a dead host's tracks are taken over within seconds; the rest as in
#: the recovery tests (quick on a loaded 2-core box, not flaky).
SHARED_CONFIG: dict[str, dict[str, Any]] = {
    "daemon": {
        "max_agents": 3,
        "dispatch_interval_s": 0.3,
        "heartbeat_interval_s": 0.5,
        "lease_ttl_s": 6.0,
        "shutdown_grace_s": 30.0,
        "global_interval_s": 3600.0,
    },
    "limits": {"idle_timeout_s": 90.0, "check_timeout_s": 120.0, "run_wall_clock_s": 600.0},
    "model": {"backend": "sim"},
}

LIVE_RUN_STATUSES = ("running", "parked")


def _toml(config: Mapping[str, Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value!r}")
            else:
                lines.append(f'{key} = "{value}"')
        lines.append("")
    return "\n".join(lines)


def sample_files(wo_ids: Sequence[str]) -> list[Path]:
    """The sample backlog's files of ``wo_ids``."""
    files = sorted(SAMPLE_WORK_ORDERS.glob("WO-*.md"))
    chosen = [f for f in files if f.name.startswith(tuple(wo_ids))]
    assert len(chosen) == len(wo_ids), (wo_ids, [f.name for f in files])
    return chosen


@dataclass
class Host:
    """One state home: its host id, its path, its ``orch run`` (when started)."""

    host_id: str
    home: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def log(self) -> Path:
        return self.home / "daemon.out"

    def output(self) -> str:
        """What the daemon printed, then its log's warnings and errors (JSON lines)."""
        printed = self.log.read_text() if self.log.exists() else ""
        log = self.home / "state" / "logs" / "orchestrator.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        bad = [line for line in lines if '"level": "warning"' in line or '"level": "error"' in line]
        return printed + "\n".join(bad[-15:])

    @property
    def owner_id(self) -> str:
        return load_settings(self.home, env={}).owner_id


@dataclass
class SharedRun:
    """Homes sharing ``url`` (PostgreSQL) and ``remote`` (a bare repository)."""

    root: Path
    url: str
    remote: Path
    project_dir: Path
    gate: Gate
    hosts: list[Host]
    tracks: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def wo_ids(self) -> list[str]:
        return sorted(w for wos in self.tracks.values() for w in wos)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """``query`` on the shared database (psycopg's ``%s`` placeholders)."""
        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
            return list(conn.execute(query, args).fetchall())

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env.update(ISOLATED_GIT_ENV)
        return env

    def start(self, host: Host, *args: str) -> subprocess.Popen[str]:
        """``orch run --exit-when-idle`` of ``host`` in its own process group."""
        log = host.log.open("a")
        host.proc = subprocess.Popen(
            [str(ORCH_SCRIPT), "--home", str(host.home), "run", "--exit-when-idle", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,
        )
        log.close()
        return host.proc

    def host_of_pid(self, pid: int) -> Host | None:
        return next((h for h in self.hosts if h.proc is not None and h.proc.pid == pid), None)

    def stop_all(self) -> None:
        """Clean-up: no daemon, no agent process of any home outlives the test."""
        self.gate.open()
        for host in self.hosts:
            if host.proc is not None and host.proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(host.proc.pid, signal.SIGKILL)
                host.proc.wait(timeout=30)
            kill_agents(host.owner_id)

    def outputs(self) -> str:
        """Every daemon's output, for a failing assertion's message (tails only)."""
        return "\n".join(f"--- {h.host_id}\n{h.output()[-4000:]}" for h in self.hosts)


def _git_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ISOLATED_GIT_ENV}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _git(cwd: Path, *args: str) -> str:
    done = _git_run(cwd, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_shared_run(
    root: Path,
    url: str,
    hosts: int,
    *,
    tracks: Mapping[str, tuple[str, ...]] = SAMPLE_TRACKS,
    gated: bool = False,
) -> SharedRun:
    """The sample project on a bare remote, ``hosts`` homes on ``url``, the backlog in tracks."""
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    project_dir = root / PROJECT
    make_sample_project(project_dir)
    gate = Gate(root / "gate")
    gate.root.mkdir(parents=True, exist_ok=True)
    if gated:
        gate.close()
    check = f"{shlex.quote(sys.executable)} -m pytest -q"
    run = SharedRun(root, url, remote, project_dir, gate, [], dict(tracks))
    config = {**SHARED_CONFIG, "store": {"url": url}}
    for n in range(1, hosts + 1):
        host = Host(f"h{n}", root / f"home-{n}")
        (host.home / "config").mkdir(parents=True)
        (host.home / "config" / "orchestrator.toml").write_text(_toml(config), encoding="utf-8")
        OrchRunner(host.home).ok("init", "--host-id", host.host_id)
        run.hosts.append(host)
    first = OrchRunner(run.hosts[0].home)
    command = gate.command(check) if gated else check
    first.ok(
        "project", "add", project_dir, "--name", PROJECT, "--check", command, "--remote", remote
    )
    wo_ids = [w for wos in tracks.values() for w in wos]
    first.ok("wo", "import", "--project", PROJECT, *sample_files(wo_ids))
    for name, wos in tracks.items():
        first.ok("track", "create", "--project", PROJECT, "--name", name, "--type", "feature")
        first.ok("track", "assign", name, *wos)
        first.ok("track", "ready", name)
    return run


@contextmanager
def shared_run(root: Path, url: str, hosts: int, *, gated: bool = False) -> Iterator[SharedRun]:
    """``make_shared_run``, every daemon and agent process ended afterwards."""
    run = make_shared_run(root, url, hosts, gated=gated)
    try:
        yield run
    finally:
        run.stop_all()


# -- what a run across hosts must leave --------------------------------------------------------


def aware(value: datetime) -> datetime:
    """Timestamps are stored in UTC (naive on some columns)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Kill:
    """A daemon SIGKILLed by the test while its worker run ``run_id`` was live."""

    host_id: str
    daemon_pid: int
    run_id: str
    track_id: str
    wo_id: str
    at: datetime


@dataclass(frozen=True)
class WorkerRun:
    id: str
    track_id: str
    wo_id: str
    status: str
    daemon_id: str
    started_at: datetime
    ended_at: datetime | None

    @property
    def daemon_pid(self) -> int:
        """The pid in the daemon id (``daemon-<pid>-<random>``)."""
        return int(self.daemon_id.split("-")[1])


def worker_runs(run: SharedRun) -> list[WorkerRun]:
    rows = run.sql(
        "SELECT id, track_id, wo_id, status, daemon_id, started_at, ended_at FROM agent_runs"
        " WHERE role = 'worker' ORDER BY started_at"
    )
    return [WorkerRun(*map(str, r[:5]), aware(r[5]), _maybe_aware(r[6])) for r in rows]


def _maybe_aware(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def _end_of(worker: WorkerRun, kill: Kill | None) -> datetime:
    """When ``worker`` stopped running: its end, or the kill for the killed daemon's run
    (which the database marks live until recovery settles it)."""
    if kill is not None and worker.id == kill.run_id:
        return min(kill.at, worker.ended_at) if worker.ended_at is not None else kill.at
    assert worker.ended_at is not None, f"run {worker.id} never ended"
    return worker.ended_at


def _assert_no_overlap(runs: Sequence[WorkerRun], kill: Kill | None, what: str) -> None:
    ordered = sorted(runs, key=lambda r: r.started_at)
    for before, after in itertools.pairwise(ordered):
        assert _end_of(before, kill) <= after.started_at, (
            f"{what}: run {after.id} started at {after.started_at} while {before.id} "
            f"(ended {_end_of(before, kill)}) was running"
        )


def worker_at_the_gate(run: SharedRun) -> WorkerRun | None:
    """A live worker run whose CLI is alive (the session is live) and whose check waits at
    the gate (mid tool call), started by one of the test's daemons."""
    at_gate = run.gate.arrived()
    for worker in worker_runs(run):
        if worker.status != "running" or worker.track_id not in at_gate:
            continue
        ((session_id, cli_pid),) = run.sql(
            "SELECT session_id, cli_pid FROM agent_runs WHERE id = %s", worker.id
        )
        daemon = run.host_of_pid(worker.daemon_pid)
        if daemon is not None and session_id and cli_pid and psutil.pid_exists(cli_pid):
            return worker
    return None


def remote_wo_commits(run: SharedRun, branch: str = "main") -> Counter[str]:
    """How many commits on the remote's ``branch`` name each WO in their trailer."""
    log = _git(run.remote, "log", "--no-merges", "--format=%B%x1e", branch)
    prefix = f"{WO_TRAILER}: "
    return Counter(
        line.removeprefix(prefix).strip()
        for message in log.split("\x1e")
        for line in message.splitlines()
        if line.startswith(prefix)
    )


def check_shared_run(run: SharedRun, kill: Kill | None = None) -> dict[str, Any]:
    """Assert what a finished run across hosts must leave; returns figures for messages."""
    wos = dict(run.sql("SELECT id, status FROM work_orders"))
    assert wos == dict.fromkeys(run.wo_ids, "done"), wos
    workers = worker_runs(run)
    by_track = _check_runs(run, workers, kill)
    _check_merges(run)
    commits = remote_wo_commits(run)
    assert commits == Counter(run.wo_ids), f"commits per WO on the remote's main: {commits}"
    _check_fsck(run.remote)
    live = run.sql(
        "SELECT id, role, status, track_id, daemon_id, started_at FROM agent_runs"
        " WHERE status IN (%s, %s)",
        *LIVE_RUN_STATUSES,
    )
    assert live == [], f"runs left live: {live} (killed: {kill})"
    return {
        "workers": len(workers),
        "daemons_by_track": {
            t: sorted({w.daemon_id for w in runs}) for t, runs in sorted(by_track.items())
        },
    }


def _check_runs(
    run: SharedRun, workers: Sequence[WorkerRun], kill: Kill | None
) -> dict[str, list[WorkerRun]]:
    """One succeeded run per WO; never two runs of one WO, or on one track, at once."""
    succeeded = Counter(w.wo_id for w in workers if w.status == "succeeded")
    assert succeeded == Counter(run.wo_ids), f"succeeded runs per WO: {succeeded}"
    by_wo: dict[str, list[WorkerRun]] = defaultdict(list)
    by_track: dict[str, list[WorkerRun]] = defaultdict(list)
    for worker in workers:
        by_wo[worker.wo_id].append(worker)
        by_track[worker.track_id].append(worker)
    for wo_id, runs in by_wo.items():
        _assert_no_overlap(runs, kill, wo_id)
    for track_id, runs in by_track.items():
        _assert_no_overlap(runs, kill, f"track {track_id}")
    return by_track


def _check_merges(run: SharedRun) -> None:
    """Every track completed once (the journal), its one merge on the remote's main."""
    completions = Counter(
        str(r[0])
        for r in run.sql(
            "SELECT subject_id FROM events WHERE kind = 'track_status' AND to_status = 'completed'"
        )
    )
    assert completions == Counter(list(run.tracks)), f"completions per track: {completions}"
    main = _git(run.remote, "rev-parse", "main").strip()
    for track_id, status, merged in run.sql("SELECT id, status, merged_commit FROM tracks"):
        assert status == "completed" and merged, (track_id, status, merged)
        on_main = _git_run(run.remote, "merge-base", "--is-ancestor", str(merged), main)
        assert on_main.returncode == 0, f"{track_id}'s merge {merged} is not on the remote's main"
    merges = _git(run.remote, "log", "--merges", "--format=%s", "main").splitlines()
    merged_tracks = Counter(m.split(":")[0].removeprefix("Merge track ") for m in merges)
    assert merged_tracks == Counter(list(run.tracks)), merges


def _check_fsck(repo: Path) -> None:
    """``git fsck`` finds nothing but dangling objects (left by moved checkpoint refs)."""
    fsck = _git_run(repo, "fsck", "--no-progress")
    output = fsck.stdout + fsck.stderr
    problems = [
        line for line in output.splitlines() if not line.startswith(("dangling ", "notice:"))
    ]
    assert fsck.returncode == 0 and not problems, output
