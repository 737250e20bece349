"""Benchmark of the state store through the real CLI (a script, not a test).

Builds state homes with 1,000 / 10,000 / 50,000 WOs across 10 projects and 80 tracks, then
times each read command as a subprocess (wall clock, Python start-up included), interleaved
with ``python -c 'import sqlite3, json'`` in the same rounds (median of ``--runs`` rounds
after one warm-up round), and prints each as a ratio to it:

- ``orch status --json``                 target <= 3x
- ``orch wo list --track T --json``      target <= 4x  (T: the track with the most WOs)
- ``orch track list --json``             (reported)

and, on the 10,000 home, ``orch wo import DIR`` of 1,000 generated files (target 5 s).

Usage::

    .venv/bin/python bench/bench_store.py [--sizes 1000,10000,50000] [--runs 7] [--dir DIR]
        [--no-import] [--profile]

``--profile`` adds ``python -X importtime`` (slowest imports) and a cProfile of one
``orch status --json`` run through the full CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert

from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.store.tables import (
    EventRow,
    WODependencyRow,
    WorkOrderRow,
    WOTrackRow,
)

N_PROJECTS = 10
N_TRACKS = 80
N_WOS = 10_000
N_IMPORT = 1_000
TARGET_STATUS_RATIO = 3.0
TARGET_LIST_RATIO = 4.0
REFERENCE = "import sqlite3, json"
TARGET_IMPORT_S = 5.0

ORCH = Path(sys.executable).with_name("orch")
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
WO_STATUSES = ["backlog"] * 6 + ["ready"] * 2 + ["done"] * 3 + ["failed", "blocked", "cancelled"]
TAGS = ["api", "ui", "db", "perf", "security", "docs", "infra", "search"]


#: Where subprocesses keep bytecode (set in main); None keeps the caller's environment.
PYCACHE: Path | None = None


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    clean.update(GIT_ENV)
    if PYCACHE is not None:
        # As after a normal install: bytecode is cached, not recompiled on every start.
        clean.pop("PYTHONDONTWRITEBYTECODE", None)
        clean["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return clean


def run_orch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(ORCH), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"orch {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def git_repo(path: Path) -> None:
    path.mkdir(parents=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env())
    (path / "README.md").write_text("bench\n")
    subprocess.run(["git", *identity, "-C", str(path), "add", "-A"], check=True, env=env())
    subprocess.run(
        ["git", *identity, "-C", str(path), "commit", "-q", "-m", "init"], check=True, env=env()
    )


# ------------------------------------------------------------------------------ build


def build_home(root: Path, seed: int = 7, n_wos: int = N_WOS) -> Path:
    """The big home: projects through the CLI, tracks through the store, WOs in bulk."""
    rng = random.Random(seed)
    home = root / "home"
    run_orch(home, "init")
    for p in range(N_PROJECTS):
        repo = root / "repos" / f"p{p}"
        git_repo(repo)
        run_orch(home, "project", "add", str(repo), "--name", f"p{p}")

    store = SQLiteStore.open(home / "state" / "orchestrator.db")
    try:
        tracks_of: dict[str, list[str]] = {}
        per_project = N_TRACKS // N_PROJECTS
        for p in range(N_PROJECTS):
            project = f"p{p}"
            ids: list[str] = []
            for t in range(per_project):
                # Two sub-tracks per project, under the project's first track.
                parent = ids[0] if t >= per_project - 2 else None
                row = store.create_track(
                    project,
                    f"{project}-t{t}",
                    rng.choice(["feature", "bugfix", "refactor", "testing"]),
                    goal=f"Track {t} of {project}",
                    parent=parent,
                    priority=rng.randint(1, 5),
                )
                ids.append(row.id)
                if t % 3 == 0:
                    store.set_track_status(row.id, TrackStatus.READY, reason="bench")
            tracks_of[project] = ids
        bulk_work_orders(store, tracks_of, rng, n_wos)
    finally:
        store.close()
    return home


def bulk_work_orders(
    store: SQLiteStore, tracks_of: dict[str, list[str]], rng: random.Random, n_wos: int = N_WOS
) -> None:
    """``n_wos`` WOs, their dependencies, track links and journal rows in one transaction."""
    now = datetime.now(UTC)
    wos, deps, links, events = [], [], [], []
    projects = sorted(tracks_of)
    for n in range(1, n_wos + 1):
        wo_id = f"WO-2025-{n:05d}"
        project = projects[(n - 1) % len(projects)]
        wos.append(
            {
                "id": wo_id,
                "project_id": project,
                "title": f"Work order {n}: do something useful",
                "goal": f"Goal of work order {n}",
                "context": [f"context line {i}" for i in range(3)],
                "acceptance_criteria": ["It works", "It is tested"],
                "non_goals": [],
                "priority": rng.randint(1, 5),
                "tags": rng.sample(TAGS, 2),
                "status": rng.choice(WO_STATUSES),
                "estimate_hours": float(rng.randint(1, 8)),
                "created_on": date(2025, 1, 1).isoformat(),
                "updated_on": None,
                "body": "## Notes\n\n" + "Some notes. " * 20,
                "extra": {},
                "source": "import",
                "attempts": 0,
                "inserted_at": now,
                "changed_at": now,
            }
        )
        # Dependencies on earlier WOs of the same project: acyclic by construction.
        if n > 2 * len(projects) and rng.random() < 0.3:
            deps.append({"wo_id": wo_id, "depends_on_id": f"WO-2025-{n - len(projects):05d}"})
        track_ids = tracks_of[project]
        first = track_ids[(n // len(projects)) % len(track_ids)]
        links.append({"wo_id": wo_id, "track_id": first})
        if rng.random() < 0.2:
            second = rng.choice(track_ids)
            if second != first:
                links.append({"wo_id": wo_id, "track_id": second})
        events.append(
            {
                "at": now,
                "kind": "wo_created",
                "subject_type": "work_order",
                "subject_id": wo_id,
                "from_status": None,
                "to_status": "backlog",
                "run_id": None,
                "data": {"project": project, "source": "bench"},
            }
        )
    with store.engine.begin() as conn:
        conn.execute(insert(WorkOrderRow.__table__), wos)  # type: ignore[attr-defined]
        conn.execute(insert(WODependencyRow.__table__), deps)  # type: ignore[attr-defined]
        conn.execute(insert(WOTrackRow.__table__), links)  # type: ignore[attr-defined]
        conn.execute(insert(EventRow.__table__), events)  # type: ignore[attr-defined]


def write_import_files(directory: Path, count: int, rng: random.Random) -> None:
    directory.mkdir(parents=True)
    for n in range(1, count + 1):
        wo_id = f"WO-2031-{n:04d}"
        deps = f"[WO-2031-{n - 1:04d}]" if n > 1 and rng.random() < 0.3 else "[]"
        (directory / f"{wo_id}_generated-work-order-{n}.md").write_text(
            f"---\nid: {wo_id}\ntitle: Generated work order {n}\n"
            f"goal: Make generated thing {n} work\n"
            "context:\n  - Generated by bench_store.py\n"
            "acceptance_criteria:\n  - It works\n  - Covered by tests\n"
            "non_goals:\n  - Anything else\n"
            f"priority: {rng.randint(1, 5)}\ntags:\n  - {rng.choice(TAGS)}\n"
            f"estimate_hours: {rng.randint(1, 8)}\nstatus: backlog\n"
            f"created_at: 2026-01-01\nupdated_at: 2026-01-02\ndepends_on: {deps}\n"
            f"---\n## Notes\n\nGenerated work order {n}. " + "Keep it small. " * 10 + "\n",
            encoding="utf-8",
        )


# ----------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Wall clock and the child's CPU time (user + sys) of each run, in seconds.

    CPU time barely moves with other load on the machine; on an idle machine the wall
    time of this single-threaded CLI is close to it (plus fsync waits).
    """

    wall: list[float]
    cpu: list[float]
    #: What the last run printed.
    out: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def measure(argv: Sequence[str], runs: int, warm_up: bool = True) -> Timing:
    """Run ``argv`` ``runs`` times (after one untimed warm-up run: page cache, bytecode)."""

    def once() -> tuple[float, float, str]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env(), timeout=600)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, done.stdout.strip()

    if warm_up:
        once()
    results = [once() for _ in range(runs)]
    return Timing([r[0] for r in results], [r[1] for r in results], results[-1][2])


def interleaved(commands: dict[str, Sequence[str]], runs: int) -> dict[str, Timing]:
    """Each command once per round, ``runs`` rounds (after one warm-up round): load on the
    machine then weighs on all of them alike."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    outs: dict[str, str] = {}
    for round_ in range(runs + 1):
        for name, argv in commands.items():
            timing = measure(argv, 1, warm_up=False)
            if round_:
                walls[name] += timing.wall
                cpus[name] += timing.cpu
            outs[name] = timing.out
    return {name: Timing(walls[name], cpus[name], outs[name]) for name in commands}


def orch_argv(home: Path, *args: str) -> list[str]:
    return [str(ORCH), "--home", str(home), *args]


def profile(home: Path, track: str) -> None:
    print("\n== python -X importtime -m orchestrator.cli (status --json): slowest imports")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         "import sys; from orchestrator.cli.main import main; main(sys.argv[1:])",
         "--home", str(home), "status", "--json"],
        capture_output=True, text=True, env=env(),
    )  # fmt: skip
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        try:
            rows.append((int(parts[1]), parts[2].rstrip()))
        except ValueError:
            continue
    for cumulative, name in sorted(rows, reverse=True)[:25]:
        print(f"  {cumulative / 1000:8.1f} ms  {name}")

    from orchestrator.cli.main import main

    for args in (["status", "--json"], ["wo", "list", "--track", track, "--json"]):
        print(f"\n== cProfile of orch {' '.join(args)} (in-process, imports already done)")
        profiler = cProfile.Profile()
        sink = io.StringIO()
        stdout = sys.stdout
        sys.stdout = sink
        try:
            profiler.enable()
            with contextlib.suppress(SystemExit):
                main(["--home", str(home), *args])
            profiler.disable()
        finally:
            sys.stdout = stdout
        stats = io.StringIO()
        pstats.Stats(profiler, stream=stats).sort_stats("cumulative").print_stats(25)
        print(stats.getvalue())


# ------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="Work directory (default: a temporary one).")
    parser.add_argument("--sizes", default="1000,10000,50000", help="WO counts per home.")
    parser.add_argument("--runs", type=int, default=7, help="Timed rounds per home.")
    parser.add_argument("--no-import", action="store_true", help="Skip the import benchmark.")
    parser.add_argument("--profile", action="store_true", help="Profile imports and queries.")
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="Keep PYTHONDONTWRITEBYTECODE if set (every run recompiles our modules).",
    )
    args = parser.parse_args(argv)
    global PYCACHE
    if not ORCH.exists():
        raise SystemExit(f"{ORCH} not found: run with the venv's python")
    root = args.dir or Path(tempfile.mkdtemp(prefix="orch-bench-"))
    if args.dir is not None and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    if not args.no_pyc_cache:
        PYCACHE = root / "pycache"
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load[0]:.2f} {load[1]:.2f}"
    )
    header = (
        f"{'command (median of ' + str(args.runs) + ' interleaved rounds)':<44} {'WOs':>6} "
        f"{'wall':>7} {'ratio':>6} {'cpu':>7} {'ratio':>6} {'target':>7}"
    )
    print(header)
    print("-" * len(header))
    missed = False
    home = track = None
    for size in [int(s) for s in args.sizes.split(",") if s]:
        home = build_home(root / f"h{size}", n_wos=size)
        store = SQLiteStore.open(home / "state" / "orchestrator.db", migrate=False)
        try:
            counts = {t["id"]: t["wo_count"] for t in store.list_tracks()}
        finally:
            store.close()
        track = max(counts, key=lambda t: (counts[t], t))
        commands = {
            f"python -c '{REFERENCE}'": [sys.executable, "-c", REFERENCE],
            "orch status --json": orch_argv(home, "status", "--json"),
            "orch wo list --track T --json": orch_argv(
                home, "wo", "list", "--track", track, "--json"
            ),
            "orch track list --json": orch_argv(home, "track", "list", "--json"),
        }
        timings = interleaved(commands, args.runs)
        ref = timings[f"python -c '{REFERENCE}'"]
        targets = {"orch status --json": TARGET_STATUS_RATIO,
                   "orch wo list --track T --json": TARGET_LIST_RATIO}  # fmt: skip
        for name, timing in timings.items():
            ratio = timing.median / ref.median
            cpu_ratio = timing.cpu_median / max(ref.cpu_median, 1e-9)
            target = targets.get(name)
            verdict = ""
            if target is not None:
                verdict = f"{target:.0f}x " + ("ok" if ratio <= target else "MISSED")
                missed |= ratio > target
            print(
                f"{name:<44} {size:>6} {timing.median * 1000:5.0f}ms {ratio:5.2f}x "
                f"{timing.cpu_median * 1000:5.0f}ms {cpu_ratio:5.2f}x {verdict:>9}",
                flush=True,
            )
        listed = len(json.loads(timings["orch wo list --track T --json"].out))
        print(f"{'':<44} {'':>6} (T = {track}: {counts[track]} WOs, {listed} listed with "
              "sub-tracks)")  # fmt: skip
    if not args.no_import and home is not None:
        files = root / "import"
        write_import_files(files, N_IMPORT, random.Random(11))
        import_argv = orch_argv(home, "wo", "import", str(files), "--project", "p0")
        imported = measure(import_argv, 1, warm_up=False)
        reimported = measure(import_argv, 1, warm_up=False)
        verdict = "ok" if imported.median <= TARGET_IMPORT_S else "MISSED"
        missed |= imported.median > TARGET_IMPORT_S
        print(f"\norch wo import ({N_IMPORT} new files, last home): {imported.median:.2f} s "
              f"(target {TARGET_IMPORT_S:.0f} s: {verdict}); again, all unchanged: "
              f"{reimported.median:.2f} s")  # fmt: skip
    if args.profile and home is not None and track is not None:
        profile(home, track)
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
