"""Benchmark of ``ClaudeRuntime`` against bare ``claude_agent_sdk.query()`` (a script, not a test).

Both sides run the same role payload through the real bundled Claude Code CLI against the
offline simulator (``orchestrator.sim.SimServer`` on 127.0.0.1, zero latency by default):

- ours: ``run_session(ClaudeRuntime(...), SessionSpec(...))``, i.e. the daemon's path: guard
  hooks, process markers and tree tracking, limits, structlog, retries;
- bare: ``claude_agent_sdk.query()`` with equivalent options: the same system and user
  prompt, model, cwd, simulator env, MCP server (``build_mcp_server``), allow/deny lists,
  ``permission_mode="dontAsk"``, ``tools=[]`` for decision roles, no settings sources.

Each session gets its own ``CLAUDE_CONFIG_DIR`` under a temporary directory. At each
concurrency level the sessions run in rounds of ``--batch`` sessions per side (default: the
concurrency level, the finest alternation that still fills it) and the sides alternate
(ours then bare, bare then ours, ...) so that drift on a noisy machine hits both alike.
Reported per side and concurrency: sessions per minute (summed wall clock of the rounds),
the time ratio ours/bare (target <= 1.10) as the ratio of the sums and as the median of the
per-round ratios (robust to a burst of outside load), phase medians per session, CPU
seconds per session of this process and of the CLIs, and the peak RSS of this process (the
daemon's stand-in) and of the CLI children (sum over processes whose command line names the
bundled ``claude``, sampled every ``--sample-ms``).

Usage::

    .venv/bin/python bench/bench_runtime.py [--sessions 12] [--concurrency 1,4]
        [--role project|judge|worker] [--batch N] [--warmup 1] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import claude_agent_sdk
import psutil
from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, SystemMessage, query

from orchestrator.agents import (
    ClaudeRuntime,
    Limits,
    Result,
    SessionSpec,
    SessionStarted,
    ToolReply,
    build_mcp_server,
    run_session,
    system_prompt,
    user_prompt,
)
from orchestrator.agents.guard import GUARDED_TOOLS
from orchestrator.domain.roles import MCP_SERVER_NAME, WORKER_BUILTIN_TOOLS, Role, allowed_tools
from orchestrator.log import configure_logging
from orchestrator.sim import SimServer, sim_env

MODEL = "claude-sonnet-4-5"
TARGET_RATIO = 1.10
SIDES = ("ours", "bare")
SESSION_TIMEOUT_S = 300.0
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
BUNDLED_CLI = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"

CHOOSE_NEXT = {
    "kind": "choose_next",
    "project": "bench",
    "directive": {"weights": {"TR-1": 1.0}, "reason": "only track"},
    "track": {"id": "TR-1", "name": "core", "goal": "grow the core"},
    "ready_work_orders": [
        {"id": "WO-2025-001", "title": "a", "priority": 1, "tags": [], "depends_on": []},
        {"id": "WO-2025-002", "title": "b", "priority": 2, "tags": [], "depends_on": []},
    ],
    "queue_size": 1,
}

JUDGE = {
    "kind": "judge",
    "experiment": "EX-1",
    "candidates": [
        {"track_id": "TR-a", "hypothesis": "cache", "passed": False, "eval_output": "slow"},
        {"track_id": "TR-b", "hypothesis": "index", "passed": True, "eval_output": "fast"},
    ],
}


def worker_payload(worktree: Path) -> dict[str, Any]:
    return {
        "kind": "work_order",
        "wo": {
            "id": "WO-2025-001",
            "title": "Add a module",
            "goal": "A module that names its work order",
            "context": "",
            "acceptance_criteria": ["a test passes"],
            "non_goals": [],
            "notes": "",
        },
        "track": {"id": "TR-1", "name": "core", "goal": "grow"},
        "worktree": str(worktree),
        "check_command": "true",
        "attempt": 1,
        "previous_failure": None,
        "recovery": None,
    }


ROLES = {"project": Role.PROJECT, "judge": Role.JUDGE, "worker": Role.WORKER}


# ------------------------------------------------------------------------------ sessions


class Handler:
    """Answers every tool call with ok and counts them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        self.calls.append(tool)
        return ToolReply(True, f"{tool} recorded")


@dataclass
class Timing:
    """One session: seconds from its start to the session id, the result and the end."""

    side: str
    init_s: float | None = None
    result_s: float | None = None
    total_s: float = 0.0
    ok: bool = False
    error: str | None = None
    tool_calls: int = 0


@dataclass
class Bench:
    root: Path
    role: Role
    base_url: str
    runtime: ClaudeRuntime
    counter: int = 0

    def next_dir(self, side: str) -> tuple[Path, Path]:
        """A fresh (config dir, cwd) pair; the cwd is a git repository for workers."""
        self.counter += 1
        name = f"{side}-{self.counter:04d}"
        config = self.root / "config" / name
        if self.role is Role.WORKER:
            cwd = self.root / "repos" / name
            git_repo(cwd)
        else:
            cwd = self.root / "cwd"
            cwd.mkdir(exist_ok=True)
        return config, cwd

    def payload(self, cwd: Path) -> dict[str, Any]:
        if self.role is Role.WORKER:
            return worker_payload(cwd)
        return CHOOSE_NEXT if self.role is Role.PROJECT else JUDGE


def git_repo(path: Path) -> None:
    path.mkdir(parents=True)
    env = {**os.environ, **GIT_ENV}
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    (path / "README.md").write_text("bench\n", encoding="utf-8")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *ident, "-C", str(path), *args], check=True, env=env)


async def run_ours(bench: Bench, config: Path, cwd: Path) -> Timing:
    role = bench.role
    handler = Handler()
    spec = SessionSpec(
        role=role,
        system_prompt=system_prompt(role),
        user_prompt=user_prompt(role, bench.payload(cwd)),
        cwd=cwd,
        tool_handler=handler,
        config_dir=config,
        env=sim_env(bench.base_url),
        model=MODEL,
        limits=Limits(wall_clock_s=SESSION_TIMEOUT_S, idle_s=120),
        run_id=f"bench-{uuid.uuid4().hex[:8]}",
    )
    timing = Timing("ours")
    start = time.perf_counter()

    async def on_event(event: Any) -> None:
        if isinstance(event, SessionStarted) and timing.init_s is None:
            timing.init_s = time.perf_counter() - start
        elif isinstance(event, Result):
            timing.result_s = time.perf_counter() - start

    try:
        outcome = await run_session(bench.runtime, spec, on_event=on_event)
        timing.ok = outcome.result is not None and not outcome.result.is_error
        if outcome.attempts != 1:
            timing.error = f"{outcome.attempts} attempts"
    except Exception as exc:
        timing.error = f"{type(exc).__name__}: {exc}"
    timing.total_s = time.perf_counter() - start
    timing.tool_calls = len(handler.calls)
    timing.ok = timing.ok and bool(handler.calls)
    return timing


def bare_options(bench: Bench, config: Path, cwd: Path, handler: Handler) -> ClaudeAgentOptions:
    """What ``ClaudeRuntime`` gives the CLI, minus our hooks, markers and bookkeeping."""
    role = bench.role
    config.mkdir(parents=True, exist_ok=True)
    worker = role is Role.WORKER
    env = sim_env(bench.base_url, str(config))
    env["CLAUDE_CODE_MAX_RETRIES"] = "0"
    return ClaudeAgentOptions(
        cwd=cwd,
        system_prompt=system_prompt(role),
        tools=list(WORKER_BUILTIN_TOOLS) if worker else [],
        allowed_tools=allowed_tools(role),
        disallowed_tools=[] if worker else [*GUARDED_TOOLS, "Bash"],
        permission_mode="dontAsk",
        mcp_servers={MCP_SERVER_NAME: build_mcp_server(role, handler)},
        strict_mcp_config=True,
        setting_sources=[],
        model=MODEL,
        env=env,
    )


async def run_bare(bench: Bench, config: Path, cwd: Path) -> Timing:
    handler = Handler()
    options = bare_options(bench, config, cwd, handler)
    prompt = user_prompt(bench.role, bench.payload(cwd))
    timing = Timing("bare")
    start = time.perf_counter()
    try:
        async for message in query(prompt=prompt, options=options):
            if isinstance(message, SystemMessage) and message.subtype == "init":
                timing.init_s = time.perf_counter() - start
            elif isinstance(message, ResultMessage):
                timing.result_s = time.perf_counter() - start
                timing.ok = not message.is_error
    except Exception as exc:
        timing.error = f"{type(exc).__name__}: {exc}"
    timing.total_s = time.perf_counter() - start
    timing.tool_calls = len(handler.calls)
    timing.ok = timing.ok and bool(handler.calls)
    return timing


Runner = Callable[[Bench, Path, Path], Awaitable[Timing]]
RUNNERS: dict[str, Runner] = {"ours": run_ours, "bare": run_bare}


# ---------------------------------------------------------------------------- sampling


@dataclass
class Peak:
    self_rss: int = 0
    cli_rss: int = 0
    cli_count: int = 0
    samples: int = 0


class RssSampler:
    """A thread sampling the RSS of this process and of its ``claude`` descendants.

    ``phase`` names the batch being run; peaks are kept per phase.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.phase = "setup"
        self.peaks: dict[str, Peak] = {}
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
        peak = self.peaks.setdefault(self.phase, Peak())
        with contextlib.suppress(psutil.Error):
            peak.self_rss = max(peak.self_rss, self._me.memory_info().rss)
        clis: dict[int, tuple[psutil.Process, list[str]]] = {}
        with contextlib.suppress(psutil.Error):
            for child in self._me.children(recursive=True):
                # Read every time: a pid that was a CLI's fork may since have exec'd bash.
                with contextlib.suppress(psutil.Error):
                    cmdline = child.cmdline()
                    if any(Path(arg).name == "claude" for arg in cmdline[:2]):
                        clis[child.pid] = (child, cmdline)
        cli_rss = count = 0
        for proc, cmdline in clis.values():
            with contextlib.suppress(psutil.Error):
                parent = clis.get(proc.ppid())
                if parent is not None and parent[1] == cmdline:
                    continue  # a CLI's child between fork and exec: shares its pages
                rss = proc.memory_info().rss
                if rss:  # 0: exited, not reaped yet
                    cli_rss += rss
                    count += 1
        peak.cli_rss = max(peak.cli_rss, cli_rss)
        peak.cli_count = max(peak.cli_count, count)
        peak.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


# ------------------------------------------------------------------------------- batches


@dataclass
class Batch:
    side: str
    concurrency: int
    wall_s: float
    cpu_s: float
    cli_cpu_s: float
    timings: list[Timing] = field(default_factory=list)


def cpu_of(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def run_batch(
    bench: Bench, side: str, sessions: int, concurrency: int, sampler: RssSampler
) -> Batch:
    # Directories (and workers' git repositories) are made before the clock starts.
    dirs = [bench.next_dir(side) for _ in range(sessions)]
    runner = RUNNERS[side]
    limiter = anyio.Semaphore(concurrency)
    timings: list[Timing] = []

    async def one(config: Path, cwd: Path) -> None:
        async with limiter:
            with anyio.fail_after(SESSION_TIMEOUT_S):
                timings.append(await runner(bench, config, cwd))

    sampler.phase = f"{side}@{concurrency}"
    cpu0 = cpu_of(resource.RUSAGE_SELF)
    children0 = cpu_of(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for config, cwd in dirs:
            tg.start_soon(one, config, cwd)
    wall = time.perf_counter() - start
    cpu = cpu_of(resource.RUSAGE_SELF) - cpu0
    # Reaped children only: the SDK waits for each CLI before the session ends. Git (for
    # workers' repositories) runs before the clock starts, outside this window.
    cli_cpu = cpu_of(resource.RUSAGE_CHILDREN) - children0
    sampler.phase = "idle"
    return Batch(side, concurrency, wall, cpu, cli_cpu, timings)


def rounds(total: int, batch: int) -> list[int]:
    full, rest = divmod(total, batch)
    return [batch] * full + ([rest] if rest else [])


async def run_all(args: argparse.Namespace, root: Path, sampler: RssSampler) -> list[Batch]:
    role = ROLES[args.role]
    faults = f"latency:{args.latency_ms}ms" if args.latency_ms else ""
    batches: list[Batch] = []
    async with SimServer(seed=7, faults=faults) as sim:
        runtime = ClaudeRuntime(owner=f"bench-{uuid.uuid4().hex[:8]}", kill_grace_s=5.0)
        bench = Bench(root, role, sim.base_url, runtime)
        for _ in range(args.warmup):
            for side in SIDES:
                batch = await run_batch(bench, side, 1, 1, sampler)
                print(f"  warm-up {side}: {batch.wall_s:.2f} s", flush=True)
        for concurrency in args.concurrency:
            for index, size in enumerate(rounds(args.sessions, args.batch or concurrency)):
                order = SIDES if index % 2 == 0 else SIDES[::-1]
                for side in order:
                    batch = await run_batch(bench, side, size, concurrency, sampler)
                    batches.append(batch)
                    failed = sum(not t.ok for t in batch.timings)
                    print(
                        f"  c={concurrency} round {index + 1} {side}: {size} sessions in "
                        f"{batch.wall_s:.2f} s" + (f", {failed} FAILED" if failed else ""),
                        flush=True,
                    )
        stats = sim.stats()
        leftovers = runtime.live_pids()
    print(f"  simulator: {sim_summary(stats)}; runtime live pids after the run: "
          f"{sorted(leftovers) or 'none'}")  # fmt: skip
    return batches


def sim_summary(stats: dict[str, Any]) -> str:
    roles = stats.get("roles", {})
    parts = []
    for name, row in sorted(roles.items()):
        if isinstance(row, dict) and row.get("requests"):
            parts.append(f"{name} {row['requests']} requests")
    return ", ".join(parts) or str(stats)


# -------------------------------------------------------------------------------- report


def median(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else float("nan")


def mib(n: int) -> str:
    return f"{n / 2**20:7.0f} MiB"


def cpu_line(batches: list[Batch], concurrency: int) -> str:
    per: dict[str, tuple[float, float]] = {}
    for side in SIDES:
        mine = [b for b in batches if b.side == side and b.concurrency == concurrency]
        n = max(sum(len(b.timings) for b in mine), 1)
        per[side] = (sum(b.cpu_s for b in mine) / n, sum(b.cli_cpu_s for b in mine) / n)
    (ours_self, ours_cli), (bare_self, bare_cli) = per["ours"], per["bare"]
    return (
        f"  c={concurrency}: this process {(ours_self - bare_self) * 1000:+.0f} ms "
        f"({ours_self * 1000:.0f} vs {bare_self * 1000:.0f}), CLIs "
        f"{(ours_cli - bare_cli) * 1000:+.0f} ms ({ours_cli * 1000:.0f} vs {bare_cli * 1000:.0f}); "
        f"total CPU ratio ours/bare {(ours_self + ours_cli) / (bare_self + bare_cli):.3f}"
    )


def report(args: argparse.Namespace, batches: list[Batch], sampler: RssSampler) -> bool:
    print()
    header = (
        f"{'side':<5} {'c':>2} {'n':>4} {'wall s':>8} {'sess/min':>9} {'ratio':>6} "
        f"{'init':>6} {'result':>7} {'close':>6} {'total':>6} {'cpu':>6} {'cli cpu':>7} "
        f"{'fail':>4}"
    )
    print("per session (medians, s): init = start to session id, result = start to result,")
    print("close = result to end of the session; cpu = CPU s of this process per session,")
    print("cli cpu = CPU s of the CLIs and what they ran, per session; ratio = wall / bare's")
    print(header)
    print("-" * len(header))
    ok = True
    cpu_lines = []
    for concurrency in args.concurrency:
        walls = {
            side: sum(b.wall_s for b in batches if b.side == side and b.concurrency == concurrency)
            for side in SIDES
        }
        for side in SIDES:
            mine = [b for b in batches if b.side == side and b.concurrency == concurrency]
            timings = [t for b in mine for t in b.timings]
            n = len(timings)
            wall = walls[side]
            cpu = sum(b.cpu_s for b in mine)
            cli_cpu = sum(b.cli_cpu_s for b in mine)
            failed = sum(not t.ok for t in timings)
            ok &= failed == 0
            ratio_text = f"{wall / walls['bare']:6.3f}"
            closes = [t.total_s - t.result_s if t.result_s is not None else None for t in timings]
            print(
                f"{side:<5} {concurrency:>2} {n:>4} {wall:8.2f} {n / wall * 60:9.1f} {ratio_text} "
                f"{median([t.init_s for t in timings]):6.2f} "
                f"{median([t.result_s for t in timings]):7.2f} {median(closes):6.2f} "
                f"{median([t.total_s for t in timings]):6.2f} {cpu / max(n, 1):6.3f} "
                f"{cli_cpu / max(n, 1):7.3f} {failed:>4}"
            )
        ratio = walls["ours"] / walls["bare"]
        cpu_lines.append(cpu_line(batches, concurrency))
        per_round = [
            o.wall_s / b.wall_s
            for o, b in zip(
                [b for b in batches if b.side == "ours" and b.concurrency == concurrency],
                [b for b in batches if b.side == "bare" and b.concurrency == concurrency],
                strict=True,
            )
        ]
        verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"  c={concurrency}: time ratio ours/bare {ratio:.3f} (target <= {TARGET_RATIO:.2f}) "
            f"{verdict}; median of {len(per_round)} per-round ratios "
            f"{statistics.median(per_round):.3f} (min {min(per_round):.3f}, "
            f"max {max(per_round):.3f})"
        )
        ok &= ratio <= TARGET_RATIO
    print()
    print("CPU per session (less sensitive to outside load than wall time):")
    for line in cpu_lines:
        print(line)
    print()
    print("peak RSS (sampled every "
          f"{args.sample_ms} ms): this process (daemon stand-in) and the CLI children")  # fmt: skip
    print(f"{'phase':<9} {'self':>12} {'CLI sum':>12} {'CLIs':>5} {'per CLI':>12} {'samples':>8}")
    for side in SIDES:
        for concurrency in args.concurrency:
            peak = sampler.peaks.get(f"{side}@{concurrency}")
            if peak is None:
                continue
            per = peak.cli_rss // max(peak.cli_count, 1)
            print(
                f"{side}@{concurrency:<4} {mib(peak.self_rss):>12} {mib(peak.cli_rss):>12} "
                f"{peak.cli_count:>5} {mib(per):>12} {peak.samples:>8}"
            )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"this process, lifetime max RSS (getrusage): {mib(maxrss).strip()}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    errors = sorted({t.error for b in batches for t in b.timings if t.error})
    for error in errors[:10]:
        print(f"  error: {error[:300]}")
    return ok


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    cli_version = (BUNDLED_CLI.parent / "claude.version").read_text().strip() \
        if (BUNDLED_CLI.parent / "claude.version").exists() else "?"  # fmt: skip
    return (
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
        f"claude-agent-sdk {claude_agent_sdk.__version__}, bundled CLI {cli_version}"
    )


def concurrency_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be >= 1")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sessions",
        type=int,
        default=12,
        help="Sessions per side and concurrency level (default 12).",
    )
    parser.add_argument(
        "--concurrency",
        type=concurrency_list,
        default=[1, 4],
        help="Comma-separated concurrency levels (default 1,4).",
    )
    parser.add_argument(
        "--role",
        choices=sorted(ROLES),
        default="project",
        help="project: choose_next payload (quick); judge; worker: edits "
        "files in a fresh git repo per session and runs a check.",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="Sessions per side in each round; the sides alternate between rounds "
        "(default: the concurrency level).",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="Untimed sessions per side before the run (default 1).",
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="Simulator latency per request (default 0)."
    )
    parser.add_argument(
        "--sample-ms", type=int, default=100, help="RSS sampling interval (default 100)."
    )
    parser.add_argument(
        "--log",
        choices=["daemon", "off"],
        default="daemon",
        help="daemon: JSON log file at info, as the daemon does; off: warnings.",
    )
    parser.add_argument("--dir", type=Path, help="Work directory (default: a temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    args = parser.parse_args(argv)  # fmt: skip
    if args.sessions < 1 or args.batch < 0:
        parser.error("need --sessions >= 1 and --batch >= 0")
    if not BUNDLED_CLI.exists():
        print(f"note: no bundled CLI at {BUNDLED_CLI}; the SDK will look for claude on PATH")

    root = args.dir or Path(tempfile.mkdtemp(prefix="orch-bench-rt-"))
    root.mkdir(parents=True, exist_ok=True)
    sink = io.StringIO()  # not a TTY: no console lines
    if args.log == "daemon":
        configure_logging(root / "logs", "info", console=sink)
    else:
        configure_logging(None, "warning", console=sink)

    print(machine())
    batch = str(args.batch) if args.batch else "concurrency level"
    print(
        f"role {args.role}, {args.sessions} sessions per side at concurrency "
        f"{','.join(map(str, args.concurrency))}, rounds of {batch} per side, simulator "
        f"latency {args.latency_ms} ms, log {args.log}, work dir {root}"
    )
    for concurrency in args.concurrency:
        if min(rounds(args.sessions, args.batch or concurrency)) < concurrency:
            print(f"note: at concurrency {concurrency} some rounds have fewer sessions than "
                  "that; use a multiple of it for --sessions/--batch")  # fmt: skip
    try:
        with RssSampler(args.sample_ms / 1000) as sampler:
            batches = anyio.run(run_all, args, root, sampler)
        ok = report(args, batches, sampler)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
