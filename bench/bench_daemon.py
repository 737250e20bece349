"""Benchmark of the daemon against the same worker sessions run bare (a script, not a test).

Both sides use the real bundled Claude Code CLI through ``ClaudeRuntime`` against the offline
simulator (``orchestrator.sim.SimServer`` on 127.0.0.1):

- daemon: ``run_daemon`` (the code behind ``orch run --exit-when-idle``) on a fresh home with
  one project, ``--wos`` WOs spread over ``--tracks`` ready tracks and ``--slots`` agents. It
  does everything a real run does: activation and worktrees, the global and project agents,
  claims, checkpoints (git snapshots), the check command, commits, merges, the report;
- bare: the same worker payloads (built with ``worker_payload`` from the same WOs) through
  ``run_session(ClaudeRuntime, spec)``, ``--slots`` at a time with perfect packing (a new
  session starts the moment one ends), no DB, no git bookkeeping, no decision agents.

The ratio daemon wall / bare wall is the daemon's overhead (target <= 1.10, the same for
CPU). The decision share is the global and project agents' tokens over all tokens the
simulator answered in the daemon run (target < 3%). Idle slot-seconds per WO: over the daemon
run, the time a slot had no worker while some track without a worker still had WOs to start,
from the runs' start and end times in the DB (target < 0.2 s). Git processes per WO: those
``orchestrator.git.runner.run_git`` started during the daemon run, by subcommand. Peak RSS is
sampled (every ``--sample-ms``) over this process (the daemon) plus all its descendants (the
CLIs, git, the checks, the simulator). The simulator runs in a process of its own (its CPU
over each side is added to that side's total), and the schema is made in a child process as
``orch init`` does, so "this process" is the daemon alone; ``--sim-in-process`` runs the
simulator in this process instead.

Scenario a: ``--wos 200 --tracks 8 --slots 4`` at zero latency. Scenario b: ``--b-slots 32``
with ``latency:400ms`` (``--b-wos``/``--b-tracks``: a track runs one worker at a time, so
32 slots need 32 tracks). ``--profile`` times the daemon's phases per WO (check, commit,
checkpoints, decisions, merges, DB reads for dispatch).

Usage::

    .venv/bin/python bench/bench_daemon.py [--scenario a|b|both] [--wos 200] [--tracks 8]
        [--slots 4] [--b-wos 64] [--b-tracks 32] [--b-slots 32] [--b-latency-ms 400]
        [--check true] [--queue-size N] [--profile] [--sim-in-process] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import anyio
import psutil
import structlog

from orchestrator.agents import (
    ClaudeRuntime,
    Limits,
    SessionSpec,
    ToolReply,
    run_session,
    system_prompt,
    user_prompt,
)
from orchestrator.config import Settings, load_settings, render_default_config, with_overrides
from orchestrator.daemon.backend import Backend
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.runner import run_daemon
from orchestrator.daemon.worker_run import worker_payload
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.roles import Role
from orchestrator.git.runner import git_processes_started
from orchestrator.sim import SimServer, sim_env
from orchestrator.store.sqlite_store import SQLiteStore

TARGET_RATIO = 1.10
TARGET_DECISION_SHARE = 0.03
TARGET_IDLE_PER_WO_S = 0.2
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
DECISION_ROLES = ("global", "project")
PROJECT = "bench"


# ------------------------------------------------------------------------------ set-up


def git(cwd: Path, *args: str) -> None:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(
        ["git", *ident, *args],
        cwd=cwd,
        check=True,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
    )


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "README.md").write_text("bench project\n", encoding="utf-8")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial commit")


@dataclass
class Setup:
    root: Path
    settings: Settings
    store: SQLiteStore
    repo: Path
    wo_ids: list[str]
    tracks: dict[str, list[str]]


def setup(
    root: Path, wos: int, tracks: int, check: str, slots: int, queue_size: int | None
) -> Setup:
    """A home with one project, ``wos`` WOs over ``tracks`` ready tracks (blocks, in order)."""
    home = root / "home"
    config = home / "config" / "orchestrator.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        render_default_config().replace('backend = "claude"', 'backend = "sim"'), encoding="utf-8"
    )
    settings = load_settings(home, env={})
    settings = with_overrides(settings, "daemon", max_agents=slots)
    if queue_size is not None:
        settings = with_overrides(settings, "daemon", queue_size=queue_size)
    repo = root / "project"
    make_repo(repo)
    # The schema is made in another process, as `orch init` does: a daemon started on a
    # home never imports Alembic (10 MiB), so this process's RSS is a daemon's.
    settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from orchestrator.store.sqlite_store import "
            "SQLiteStore; SQLiteStore.open(pathlib.Path(sys.argv[1]))",
            str(settings.db_path),
        ],
        check=True,
    )
    store = SQLiteStore.open(settings.db_path)
    store.add_project(PROJECT, str(repo), "main", check)
    ids = [
        store.add_work_order(PROJECT, WorkOrder(id="", title=f"Bench task {n + 1}")).id
        for n in range(wos)
    ]
    per_track: dict[str, list[str]] = {}
    for t in range(tracks):
        name = f"t{t + 1:02d}"
        block = ids[t::tracks]
        store.create_track(PROJECT, name, "feature", goal=f"bench track {name}")
        store.assign(name, block)
        store.set_track_status(name, TrackStatus.READY, reason="bench")
        per_track[name] = block
    return Setup(root, settings, store, repo, ids, per_track)


# ------------------------------------------------------------------------------ sampling


@dataclass
class Peak:
    total_rss: int = 0
    self_rss: int = 0
    children: int = 0
    #: The largest RSS of one agent CLI (a ``claude`` process) seen.
    cli_rss: int = 0


class RssSampler:
    """Peak RSS of this process plus all its descendants, sampled on a thread."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.peak = Peak()
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            own = self._me.memory_info().rss
            total, count = own, 0
            for child in self._me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss = child.memory_info().rss
                    total += rss
                    count += 1
                    if child.name() == "claude":
                        self.peak.cli_rss = max(self.peak.cli_rss, rss)
            self.peak.self_rss = max(self.peak.self_rss, own)
            self.peak.children = max(self.peak.children, count)
            self.peak.total_rss = max(self.peak.total_rss, total)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


# ------------------------------------------------------------------------------ the simulator


class SimProcess:
    """The simulator in a process of its own (``serve_forever``, as ``orch sim serve``), so
    this process's RSS and CPU are the daemon's (or the bare driver's) alone; the
    simulator's CPU over a side is added to that side's total by the caller (``cpu_s``)."""

    def __init__(self, faults: str, err: IO[str]) -> None:
        code = f"from orchestrator.sim.serve import serve_forever; serve_forever(0, {faults!r}, 1)"
        # A file, not a pipe: nobody reads stderr until the end, and a full pipe would stall it.
        self._err = err
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=self._err, text=True
        )
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", first)
        if match is None:
            self._proc.kill()
            raise RuntimeError(f"the simulator did not start: {first!r}")
        self.base_url = match.group(1)
        self._ps = psutil.Process(self._proc.pid)
        self._stats: dict[str, Any] = {}

    def cpu_s(self) -> float:
        times = self._ps.cpu_times()
        return times.user + times.system

    def stats(self) -> dict[str, Any]:
        return self._stats

    def close(self) -> None:
        self._proc.terminate()
        self._proc.communicate(timeout=30)
        self._err.seek(0)
        lines = [line for line in self._err.read().splitlines() if line.startswith("{")]
        self._stats = json.loads(lines[-1]) if lines else {}


@dataclass
class InProcessSim:
    """``SimServer`` as the sides use it: its CPU is this process's already."""

    server: SimServer

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def stats(self) -> dict[str, Any]:
        return self.server.stats()

    def cpu_s(self) -> float:
        return 0.0


@contextlib.asynccontextmanager
async def simulator(faults: str, in_process: bool) -> AsyncIterator[InProcessSim | SimProcess]:
    """The simulator for one side: in this process (``SimServer``) or in its own."""
    if in_process:
        async with SimServer(faults=faults, seed=1) as server:
            yield InProcessSim(server)
        return
    with tempfile.TemporaryFile("w+") as err:
        sim = SimProcess(faults, err)
        try:
            yield sim
        finally:
            sim.close()


# ------------------------------------------------------------------------------ profiling


class PhaseTimer:
    """Wall time and count per wrapped coroutine function (the daemon's phases)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.longest: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        timer = self

        if anyio_coroutine(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    timer.add(label, time.perf_counter() - start)

            setattr(owner, name, timed_async)
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timer.add(label, time.perf_counter() - start)

            setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def add(self, label: str, seconds: float) -> None:
        self.total[label] += seconds
        self.count[label] += 1
        self.longest[label] = max(self.longest[label], seconds)

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()


def anyio_coroutine(fn: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


@contextlib.contextmanager
def profiled(enabled: bool) -> Iterator[PhaseTimer | None]:
    if not enabled:
        yield None
        return
    from orchestrator.daemon import checkpoints, merging, supervisor, worker_run
    from orchestrator.git.repo import GitRepo
    from orchestrator.store import lease, planning

    timer = PhaseTimer()
    timer.wrap(worker_run, "drive_session", "worker session (CLI)")
    timer.wrap(worker_run, "run_check", "check command")
    timer.wrap(worker_run, "write_checkpoint", "checkpoint (git snapshot + DB)")
    timer.wrap(checkpoints, "write_checkpoint_sync", "  of which sync part")
    timer.wrap(GitRepo, "commit_all", "commit on track branch")
    timer.wrap(supervisor, "run_work_order", "run_work_order (whole WO)")
    timer.wrap(supervisor, "run_project_agent", "project agent")
    timer.wrap(supervisor, "run_global_agent", "global agent")
    timer.wrap(merging, "finish_track_sync", "merge + complete track")
    timer.wrap(planning.PlanningQueries, "track_work", "store.track_work (dispatch reads)")
    timer.wrap(supervisor, "activate_track", "activate track (worktree add)")
    timer.wrap(supervisor.Supervisor, "_heartbeat", "lease heartbeat")
    timer.wrap(lease.LeaseQueries, "heartbeat", "  of which the DB write")
    try:
        yield timer
    finally:
        timer.undo()


# ------------------------------------------------------------------------------ the two sides


@dataclass
class Side:
    name: str
    wall_s: float = 0.0
    #: CPU seconds of this process and of every child it reaped (the CLIs and what they ran).
    cpu_s: float = 0.0
    #: Of which this process's own (the daemon, and the in-process simulator's threads).
    self_cpu_s: float = 0.0
    sessions: int = 0
    failed: int = 0
    peak: Peak = field(default_factory=Peak)
    stats: dict[str, Any] = field(default_factory=dict)
    done: int = 0
    started: datetime | None = None
    ended: datetime | None = None
    git: dict[str, int] = field(default_factory=dict)


def cpu_seconds() -> float:
    """User+system CPU of this process (the simulator's threads too) and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def role_tokens(stats: dict[str, Any]) -> dict[str, int]:
    return {
        role: int(v["input_tokens"]) + int(v["output_tokens"])
        for role, v in stats.get("roles", {}).items()
    }


async def run_daemon_side(
    s: Setup, faults: str, sample_ms: int, timer: Any, sim_in_process: bool
) -> Side:
    side = Side("daemon")
    async with simulator(faults, sim_in_process) as sim:
        runtime = ClaudeRuntime(owner=s.settings.owner_id)
        backend = Backend(runtime=runtime, session_env=sim_env(sim.base_url), sim_url=sim.base_url)
        options = RunOptions(max_agents=s.settings.daemon.max_agents, exit_when_idle=True)
        with RssSampler(sample_ms / 1000) as sampler:
            git_before = git_processes_started()
            side.started = datetime.now(UTC)
            start, cpu, own = time.perf_counter(), cpu_seconds(), own_cpu_seconds()
            sim_cpu = sim.cpu_s()
            report = await run_daemon(s.settings, s.store, options, backend=backend)
            side.wall_s = time.perf_counter() - start
            side.cpu_s = cpu_seconds() - cpu + sim.cpu_s() - sim_cpu
            side.self_cpu_s = own_cpu_seconds() - own
            side.ended = datetime.now(UTC)
            side.git = {
                k: n - git_before.get(k, 0)
                for k, n in git_processes_started().items()
                if n > git_before.get(k, 0)
            }
        side.peak = sampler.peak
    side.stats = sim.stats()
    side.done = report.summary["work_orders"]["done"]
    side.failed = report.summary["work_orders"]["failed"]
    side.sessions = report.summary["runs"]
    side.stats["report"] = str(report.path)
    return side


class AcceptAll:
    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        return ToolReply(True, f"{tool} recorded")


def bare_payloads(s: Setup, root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The daemon's worker payloads for the same WOs, each in a copy of its track's tree."""
    project = s.store.get_project(PROJECT)
    payloads: list[tuple[Path, dict[str, Any]]] = []
    for track_id, wo_ids in s.tracks.items():
        tree = root / "bare-trees" / track_id
        shutil.copytree(s.repo, tree, ignore=shutil.ignore_patterns(".git"))
        make_repo_in_place(tree)
        track = s.store.get_track(track_id)
        for wo_id in wo_ids:
            _, wo, _ = s.store.get_work_order(wo_id)
            payloads.append((tree, worker_payload(wo, track, tree, project.check_command, 1, None)))
    return payloads


def make_repo_in_place(path: Path) -> None:
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial commit")


async def run_bare_side(
    s: Setup,
    root: Path,
    faults: str,
    slots: int,
    sample_ms: int,
    sim_in_process: bool,
    limit: int | None = None,
) -> Side:
    side = Side("bare")
    jobs = bare_payloads(s, root)[:limit]
    async with simulator(faults, sim_in_process) as sim:
        runtime = ClaudeRuntime(owner=s.settings.owner_id)
        env = sim_env(sim.base_url)
        limits = session_limits_for(s.settings)
        queue = list(enumerate(jobs))
        failures: list[str] = []

        async def worker() -> None:
            while queue:
                n, (tree, payload) = queue.pop(0)
                config = root / "bare-config" / f"{n:04d}-{uuid.uuid4().hex[:4]}"
                config.mkdir(parents=True)
                spec = SessionSpec(
                    role=Role.WORKER,
                    system_prompt=system_prompt(Role.WORKER),
                    user_prompt=user_prompt(Role.WORKER, payload),
                    cwd=tree,
                    tool_handler=AcceptAll(),
                    limits=limits,
                    config_dir=config,
                    env=env,
                    model=s.settings.model.model or None,
                    run_id=f"bare-{n:04d}",
                )
                try:
                    outcome = await run_session(runtime, spec)
                    if outcome.result is None or outcome.result.is_error:
                        failures.append(payload["wo"]["id"])
                except Exception as exc:
                    failures.append(f"{payload['wo']['id']}: {type(exc).__name__}: {exc}")

        with RssSampler(sample_ms / 1000) as sampler:
            start, cpu, own = time.perf_counter(), cpu_seconds(), own_cpu_seconds()
            sim_cpu = sim.cpu_s()
            async with anyio.create_task_group() as tg:
                for _ in range(slots):
                    tg.start_soon(worker)
            side.wall_s = time.perf_counter() - start
            side.cpu_s = cpu_seconds() - cpu + sim.cpu_s() - sim_cpu
            side.self_cpu_s = own_cpu_seconds() - own
        side.peak = sampler.peak
    side.stats = sim.stats()
    side.sessions = len(jobs)
    side.failed = len(failures)
    side.done = len(jobs) - len(failures)
    if failures:
        print(f"  bare failures: {failures[:5]}", file=sys.stderr)
    return side


def session_limits_for(settings: Settings) -> Limits:
    """The limits the daemon gives each session (``sessions.session_limits``)."""
    limits = settings.limits
    return Limits(
        wall_clock_s=limits.run_wall_clock_s,
        idle_s=limits.idle_timeout_s,
        max_turns=limits.max_turns,
        max_cost_usd=limits.max_cost_per_run_usd,
    )


# ------------------------------------------------------------------------------ analysis


def slot_use(s: Setup, daemon: Side) -> dict[str, float]:
    """From the DB: session time per role and how busy the slots were."""
    runs = s.store.list_runs()
    per_role: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for run in runs:
        if run.ended_at is not None:
            per_role[run.role] += (run.ended_at - run.started_at).total_seconds()
            count[run.role] += 1
    slots = s.settings.daemon.max_agents
    busy = sum(per_role.values())
    return {
        **{f"{role} run s": round(v, 1) for role, v in sorted(per_role.items())},
        **{f"{role} runs": float(c) for role, c in sorted(count.items())},
        "slot utilisation": round(busy / (slots * daemon.wall_s), 3) if daemon.wall_s else 0.0,
    }


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def idle_slot_seconds(s: Setup, daemon: Side) -> float:
    """Slot-seconds with no worker while a track without a worker still had WOs to start.

    A sweep over the worker runs' start and end times: at each moment the demand is the
    running workers plus the tracks that have no worker and start another later; a slot is
    idle when fewer workers run than ``min(slots, demand)``. Decision sessions do not count
    as work: a slot one holds while a worker could start is idle for this figure.
    """
    assert daemon.started is not None and daemon.ended is not None
    slots = s.settings.daemon.max_agents
    runs = [
        (r.track_id, utc(r.started_at), utc(r.ended_at))
        for r in s.store.list_runs()
        if r.role == Role.WORKER.value and r.ended_at is not None and r.track_id
    ]
    cuts = sorted({daemon.started, daemon.ended, *(t for _, a, b in runs for t in (a, b))})
    by_track: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for track, a, b in runs:
        by_track[track].append((a, b))
    idle = 0.0
    for left, right in itertools.pairwise(cuts):
        mid = left + (right - left) / 2
        running = waiting = 0
        for spans in by_track.values():
            if any(a <= mid < b for a, b in spans):
                running += 1
            elif any(a > mid for a, _ in spans):
                waiting += 1
        wanted = min(slots, running + waiting)
        idle += max(0, wanted - running) * (right - left).total_seconds()
    return idle


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def print_scenario(
    title: str, s: Setup, daemon: Side, bare: Side, timer: PhaseTimer | None, sim_in_process: bool
) -> dict[str, Any]:
    ratio = daemon.wall_s / bare.wall_s if bare.wall_s else float("nan")
    cpu_ratio = daemon.cpu_s / bare.cpu_s if bare.cpu_s else float("nan")
    tokens = role_tokens(daemon.stats)
    total = sum(tokens.values())
    decision = sum(tokens.get(r, 0) for r in DECISION_ROLES)
    share = decision / total if total else 0.0
    wos = len(s.wo_ids)
    print(f"\n== {title}")
    rows = [
        ("wall time", f"{daemon.wall_s:.1f} s", f"{bare.wall_s:.1f} s"),
        ("WOs done / sessions", f"{daemon.done}/{daemon.sessions}", f"{bare.done}/{bare.sessions}"),
        ("failed", str(daemon.failed), str(bare.failed)),
        ("per WO", f"{daemon.wall_s / wos:.2f} s", f"{bare.wall_s / wos:.2f} s"),
        ("CPU (self + children)", f"{daemon.cpu_s:.1f} s", f"{bare.cpu_s:.1f} s"),
        ("CPU of this process", f"{daemon.self_cpu_s:.1f} s", f"{bare.self_cpu_s:.1f} s"),
        ("simulator", "in this process" if sim_in_process else "own process", ""),
        ("peak RSS (self+children)", mib(daemon.peak.total_rss), mib(bare.peak.total_rss)),
        ("peak RSS (this process)", mib(daemon.peak.self_rss), mib(bare.peak.self_rss)),
        ("peak child processes", str(daemon.peak.children), str(bare.peak.children)),
        ("peak RSS of one CLI", mib(daemon.peak.cli_rss), mib(bare.peak.cli_rss)),
    ]
    print(f"{'':28} {'daemon':>14} {'bare':>14}")
    for label, ours, theirs in rows:
        print(f"{label:28} {ours:>14} {theirs:>14}")
    req = {r: v["requests"] for r, v in daemon.stats.get("roles", {}).items()}
    loads = (daemon.stats["load"], bare.stats["load"])
    print(f"{'load (1/5/15 min) start..end':28} {loads[0]:>14} {loads[1]:>14}")
    print(f"{'sim requests by role':28} {req}")
    print(f"{'sim tokens by role':28} {tokens}")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio daemon/bare: {ratio:.3f} (target <= {TARGET_RATIO}) {verdict}")
    # On a shared or small machine the wall ratio follows the load of the moment; the CPU
    # ratio is the work done, whatever else runs.
    verdict = "ok" if cpu_ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"CPU ratio daemon/bare: {cpu_ratio:.3f} (target <= {TARGET_RATIO}) {verdict}")
    verdict = "ok" if share < TARGET_DECISION_SHARE else "OVER TARGET"
    print(
        f"decision tokens: {decision:,} of {total:,} = {share:.1%} "
        f"(target < {TARGET_DECISION_SHARE:.0%}) {verdict}"
    )
    idle = idle_slot_seconds(s, daemon) / wos
    verdict = "ok" if idle < TARGET_IDLE_PER_WO_S else "OVER TARGET"
    print(f"idle slot-seconds per WO: {idle:.3f} s (target < {TARGET_IDLE_PER_WO_S}) {verdict}")
    git_total = sum(daemon.git.values())
    print(f"git processes per WO: {git_total / wos:.1f} ({dict(sorted(daemon.git.items()))})")
    for key, value in slot_use(s, daemon).items():
        print(f"  {key}: {value}")
    if timer is not None:
        print("  daemon phases (wall s, calls, longest call; concurrent phases overlap):")
        for label in timer.total:
            print(
                f"    {label:40} {timer.total[label]:>8.1f} s {timer.count[label]:>6} "
                f"{timer.longest[label]:>8.2f} s"
            )
    print(f"  report: {daemon.stats.get('report')}")
    return {
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "decision_share": share,
        "idle_per_wo": idle,
        "git_per_wo": git_total / wos,
        "peak_rss": daemon.peak.total_rss,
        "daemon_rss": daemon.peak.self_rss,
        "cli_rss": daemon.peak.cli_rss,
        # This process's CPU of the run's: the simulator's in its own process, else
        # approximated by the bare driver's (its share is in both).
        "daemon_cpu_share": (daemon.self_cpu_s - (bare.self_cpu_s if sim_in_process else 0.0))
        / daemon.cpu_s
        if daemon.cpu_s
        else 0.0,
        "load": f"{daemon.stats.get('load')} / {bare.stats.get('load')}",
    }


async def scenario(
    args: argparse.Namespace, title: str, wos: int, tracks: int, slots: int, latency_ms: int
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-daemon-", dir=args.dir))
    faults = f"latency:{latency_ms}ms" if latency_ms else ""
    try:
        s = setup(root, wos, tracks, args.check, slots, args.queue_size)
        print(f"\n[{title}] {wos} WOs / {tracks} tracks / {slots} slots, faults {faults or 'none'}")
        if args.warmup:
            print(f"  warm-up: {args.warmup} bare sessions", flush=True)
            await run_bare_side(
                s, root / "warmup", faults, slots, args.sample_ms, args.sim_in_process, args.warmup
            )
        before = load()
        print(f"  daemon run (load {before}) ...", flush=True)
        with profiled(args.profile) as timer:
            daemon = await run_daemon_side(s, faults, args.sample_ms, timer, args.sim_in_process)
        daemon.stats["load"] = f"{before} .. {load()}"
        before = load()
        print(f"  daemon: {daemon.wall_s:.1f} s; bare run (load {before}) ...", flush=True)
        bare = await run_bare_side(s, root, faults, slots, args.sample_ms, args.sim_in_process)
        bare.stats["load"] = f"{before} .. {load()}"
        return print_scenario(title, s, daemon, bare, timer, args.sim_in_process)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"  kept: {root}")


def load() -> str:
    """The load averages (1, 5, 15 min) as ``uptime`` shows them: the machine is shared."""
    return "/".join(f"{n:.1f}" for n in os.getloadavg())


def quiet_logging() -> None:
    import logging

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["a", "b", "both"], default="both")
    parser.add_argument("--wos", type=int, default=200)
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--b-wos", type=int, default=64)
    parser.add_argument("--b-tracks", type=int, default=32)
    parser.add_argument("--b-slots", type=int, default=32)
    parser.add_argument("--b-latency-ms", type=int, default=400)
    parser.add_argument("--check", default="true", help="the project's check command")
    parser.add_argument("--queue-size", type=int, default=None, help="daemon.queue_size")
    parser.add_argument("--warmup", type=int, default=1, help="bare sessions before timing")
    parser.add_argument("--sample-ms", type=int, default=250)
    parser.add_argument("--profile", action="store_true", help="time the daemon's phases")
    parser.add_argument(
        "--sim-in-process",
        action="store_true",
        help="run the simulator in this process (its RSS and CPU then count as the daemon's)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to put temp dirs")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs")
    args = parser.parse_args(argv)
    quiet_logging()
    print(
        f"bench_daemon: python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load {load()}, check {args.check!r}"
    )
    results = {}
    if args.scenario in ("a", "both"):
        results["a"] = anyio.run(
            scenario, args, "a", args.wos, args.tracks, args.slots, args.latency_ms
        )
    if args.scenario in ("b", "both"):
        results["b"] = anyio.run(
            scenario, args, "b", args.b_wos, args.b_tracks, args.b_slots, args.b_latency_ms
        )
    print("\n== summary")
    for name, r in results.items():
        print(
            f"  {name}: ratio {r['ratio']:.3f} (CPU {r['cpu_ratio']:.3f}), "
            f"decision share {r['decision_share']:.1%}, "
            f"idle {r['idle_per_wo']:.3f} slot-s/WO, git {r['git_per_wo']:.1f}/WO, "
            f"peak RSS {mib(r['peak_rss'])} (daemon process {mib(r['daemon_rss'])}, "
            f"one CLI {mib(r['cli_rss'])}), daemon's own CPU ~{r['daemon_cpu_share']:.1%} "
            "of the run's, "
            f"load daemon/bare {r['load']}"
        )


if __name__ == "__main__":
    main()
