"""Benchmark of crash recovery through the real CLI and the simulator (a script, not a test).

Sets up N interrupted worker sessions (default 8, one per track): ``orch run`` starts a real
Claude Code CLI session per track against the simulator, each session's Bash tool call (the
project's check) is held at a gate, and the daemon is killed with SIGKILL. Then it times

- ``orch recover`` (a subprocess: Python start-up included) from its start to each
  interrupted session's first resumed request arriving at the simulator;

beside, in the same run,

- the bare CLI start: ``claude_agent_sdk.query()`` of a trivial prompt to its first request
  at the simulator, alone (median of ``--bare-runs``) and N at once.

Request arrival times come from a hook on the simulator's request recorder (in the
``orch recover`` process too, installed before ``orch`` starts). After the measurement the
gate opens and the resumed sessions run to their end; their completion time is reported too.

Usage::

    .venv/bin/python bench/bench_recover.py [--sessions 8] [--bare-runs 3] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.recovery_home import RecoveryHome, make_home, wait_for  # noqa: E402

RECOVERY_TEXT = "Your session was interrupted and has now been resumed"
TRACK_RE = re.compile(r"/workspaces/app/([a-z0-9-]+)")

#: Runs ``orch`` with the simulator's request recorder timing every request (wall clock).
HOOK = """
import json, sys, time
from orchestrator.sim import stats as _stats
_path = sys.argv.pop(1)
_record = _stats.SimStats.record_request
def _timed(self, role, body, _record=_record, _path=_path):
    with open(_path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"t": time.time(), "role": role, "body": body}) + "\\n")
    return _record(self, role, body)
_stats.SimStats.record_request = _timed
from orchestrator.cli.main import main
main(sys.argv[1:])
"""


def install_request_clock(path: Path) -> None:
    """The same hook in this process (for the bare CLI runs)."""
    from orchestrator.sim import stats

    record = stats.SimStats.record_request

    def timed(self: Any, role: str, body: dict[str, Any]) -> None:
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"t": time.time(), "role": role, "body": body}) + "\n")
        record(self, role, body)

    stats.SimStats.record_request = timed  # type: ignore[method-assign]


def read_requests(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written
    return out


def _texts(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(str(b.get("text", "")) for b in content or [] if b.get("type") == "text")


def describe(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages", [])
    first = json.dumps(messages[:1])
    track = TRACK_RE.search(first)
    tool_uses = [
        block["name"]
        for m in messages
        if m.get("role") == "assistant" and not isinstance(m.get("content"), str)
        for block in m["content"]
        if block.get("type") == "tool_use"
    ]
    return {
        "track": track.group(1) if track else None,
        "messages": len(messages),
        "recovery_prompt": any(RECOVERY_TEXT in _texts(m) for m in messages),
        "tool_uses": tool_uses,
    }


# -- 1. N interrupted sessions ------------------------------------------------------------------


def interrupt_sessions(home: RecoveryHome, tracks: list[str]) -> dict[str, Any]:
    home.gate.close()
    started = time.monotonic()
    with home.daemon() as daemon:
        wait_for(
            lambda: home.gate.arrived() >= set(tracks) or daemon.poll() is not None,
            600,
            "every session at its Bash tool call",
            interval=0.2,
        )
        if daemon.poll() is not None:
            raise SystemExit(f"orch run ended early:\n{home.daemon_output()[-3000:]}")
        runs = {r.track_id: r for r in home.runs() if r.status == "running"}
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
    missing = [t for t in tracks if t not in runs or not runs[t].session_id]
    if missing:
        raise SystemExit(f"no live session for {missing}")
    return {
        "setup_s": time.monotonic() - started,
        "sessions": {t: runs[t].session_id for t in tracks},
    }


# -- 2. orch recover ----------------------------------------------------------------------------


def time_recover(home: RecoveryHome, tracks: list[str], requests: Path) -> dict[str, Any]:
    requests.unlink(missing_ok=True)
    log = home.path / "state" / "logs" / "orchestrator.jsonl"
    log_offset = log.stat().st_size if log.exists() else 0
    env = home.env()
    argv = [sys.executable, "-c", HOOK, str(requests), "--home", str(home.path), "recover"]
    t0 = time.time()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first: dict[str, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + 600
        while len(first) < len(tracks):
            if proc.poll() is not None:
                raise SystemExit(f"orch recover ended early:\n{proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the resumed requests")
            for entry in read_requests(requests):
                if entry["role"] != "worker":
                    continue
                info = describe(entry["body"])
                if info["track"] in tracks and info["track"] not in first:
                    first[info["track"]] = {"t": entry["t"] - t0, **info}
            time.sleep(0.02)
        home.gate.open()
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done_s = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"orch recover failed ({proc.returncode}):\n{err[-3000:]}")
    phases = _phases(log, log_offset, t0)
    return {"first": first, "done_s": done_s, "phases": phases, "out": out}


def _phases(log: Path, offset: int, t0: float) -> dict[str, float]:
    """When the recover process logged its steps (seconds after t0)."""
    with log.open(encoding="utf-8") as handle:
        handle.seek(offset)
        entries = [json.loads(line) for line in handle if line.startswith("{")]

    def at(entry: dict[str, Any]) -> float:
        return datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp() - t0

    phases: dict[str, float] = {}
    for entry in entries:
        name = entry.get("event")
        if name == "orphans_ended" and "orphans ended" not in phases:
            phases["orphans ended"] = at(entry)
        elif name == "run_recovered":
            phases["runs settled"] = at(entry)
        elif name == "agent_session_starting" and entry.get("resume"):
            phases.setdefault("first resumed CLI starting", at(entry))
            phases["last resumed CLI starting"] = at(entry)
    return phases


# -- 3. the bare CLI ----------------------------------------------------------------------------


async def bare_starts(root: Path, requests: Path, count: int) -> list[float]:
    """``count`` trivial ``query()`` calls at once: seconds from each call to its first
    request at the simulator."""
    from claude_agent_sdk import ClaudeAgentOptions, query

    from orchestrator.sim import SimServer, sim_env

    requests.unlink(missing_ok=True)
    starts: dict[str, float] = {}
    async with SimServer(seed=1) as sim:

        async def one(n: int) -> None:
            marker = f"bare-{n}-{time.monotonic_ns()}"
            cwd = root / "bare" / marker
            cwd.mkdir(parents=True)
            options = ClaudeAgentOptions(
                cwd=cwd,
                env=sim_env(sim.base_url, str(root / "bare-config" / marker)),
                setting_sources=[],
            )
            starts[marker] = time.time()
            async for _message in query(prompt=f"Say hello ({marker}).", options=options):
                pass

        with anyio.fail_after(300):
            async with anyio.create_task_group() as tg:
                for n in range(count):
                    tg.start_soon(one, n)
    arrivals: dict[str, float] = {}
    for entry in read_requests(requests):
        text = json.dumps(entry["body"].get("messages", []))
        for marker in starts:
            if marker in text and marker not in arrivals:
                arrivals[marker] = entry["t"]
    missing = set(starts) - set(arrivals)
    if missing:
        raise SystemExit(f"no request seen for bare runs {sorted(missing)}")
    return sorted(arrivals[m] - starts[m] for m in starts)


# -- report -------------------------------------------------------------------------------------


def _stats(values: Sequence[float]) -> str:
    return (
        f"min {min(values):6.2f} s   median {statistics.median(values):6.2f} s   "
        f"max {max(values):6.2f} s"
    )


def _cli_version() -> str:
    import claude_agent_sdk

    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    try:
        out = subprocess.run(
            [str(bundled), "--version"], capture_output=True, text=True, timeout=60
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8, help="interrupted sessions (tracks)")
    parser.add_argument("--bare-runs", type=int, default=3, help="single bare CLI starts")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    root = (args.dir or Path(tempfile.mkdtemp(prefix="orch-bench-recover-"))).resolve()
    tracks = [f"t{n}" for n in range(1, args.sessions + 1)]
    try:
        print(f"setting up {len(tracks)} tracks in {root} ...", flush=True)
        home = make_home(
            root, dict.fromkeys(tracks, 1), config={"daemon": {"max_agents": len(tracks) + 1}}
        )
        crash = interrupt_sessions(home, tracks)
        print(
            f"{len(tracks)} sessions at their Bash tool call after {crash['setup_s']:.1f} s; "
            "daemon killed (SIGKILL)",
            flush=True,
        )
        recovered = time_recover(home, tracks, root / "recover-requests.jsonl")
        print("orch recover done; timing bare CLI starts ...", flush=True)
        clock = root / "bare-requests.jsonl"
        install_request_clock(clock)
        single = [anyio.run(bare_starts, root, clock, 1)[0] for _ in range(args.bare_runs)]
        parallel = anyio.run(bare_starts, root, clock, len(tracks))
        statuses = set(home.wo_statuses().values())
    finally:
        if args.keep or args.dir:
            print(f"(kept {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)

    first = recovered["first"]
    resumed = [t for t in tracks if first[t]["recovery_prompt"] and first[t]["messages"] > 1]
    with_history = [t for t in resumed if "Write" in first[t]["tool_uses"]]
    times = [first[t]["t"] for t in tracks]
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; Claude Code {_cli_version()}"
    )
    print(f"{len(tracks)} worker sessions interrupted mid tool call (daemon SIGKILLed)")
    print()
    print(f"orch recover start -> first resumed request, per session ({len(tracks)} at once):")
    print(f"  {_stats(times)}")
    for name, value in sorted(recovered["phases"].items(), key=lambda kv: kv[1]):
        print(f"    {name:<30} {value:6.2f} s")
    print(
        f"  resumed by session id with the recovery prompt: {len(resumed)}/{len(tracks)}; "
        f"their history (earlier Write calls) in the request: {len(with_history)}/{len(tracks)}"
    )
    print(
        f"  all {len(tracks)} WOs finished {recovered['done_s']:.1f} s after recover start "
        f"(statuses: {', '.join(sorted(statuses))})"
    )
    print()
    print("bare CLI start, query() -> first request (same run, same machine):")
    print(f"  alone ({args.bare_runs} runs):      {_stats(single)}")
    print(f"  {len(tracks)} at once:             {_stats(parallel)}")
    print()
    overhead = statistics.median(times) - statistics.median(parallel)
    print(
        f"recovery overhead over a bare start ({len(tracks)} at once, medians): {overhead:+.2f} s"
    )
    return 0 if len(resumed) == len(tracks) and statuses == {"done"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
