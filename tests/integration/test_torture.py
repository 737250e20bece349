"""Torture: SIGKILL the daemon at random moments, recover, continue; nothing lost or doubled.

Runs the demo backlog (18 WOs in 8 tracks, and an experiment of two variants) through the
real CLI and the simulator (with enough latency that ten kills land before the work ends),
killing ``orch run`` with SIGKILL at seeded random moments, then ``orch recover`` and a new
``orch run`` each time, until every WO is done and the experiment landed. Then the
invariants of DESIGN.md (the experiment's among them) are checked on the final state.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.demo import setup_demo
from tests.support.invariants import check_invariants

ORCH = Path(sys.executable).with_name("orch")
KILLS = int(os.environ.get("ORCH_TORTURE_KILLS", "10"))
SEED = int(os.environ.get("ORCH_TORTURE_SEED", "20261124"))


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ORCH_HOME": str(home),
        "ORCH_MODEL_BACKEND": "sim",
        "ORCH_MODEL_SIM_FAULTS": "latency:400ms",
        # Short heartbeats: a killed daemon is noticed by its dead pid anyway.
        "ORCH_DAEMON_HEARTBEAT_INTERVAL_S": "1",
    }


def _orch(home: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORCH), *args], env=_env(home), capture_output=True, text=True, timeout=timeout
    )


def _run_and_maybe_kill(home: Path, args: list[str], after_s: float | None) -> bool:
    """Start ``orch ARGS``; SIGKILL it after ``after_s`` seconds (None: let it finish).

    Returns True when it was killed, False when it finished (successfully) first.
    """
    process = subprocess.Popen(
        [str(ORCH), *args],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        process.wait(timeout=after_s if after_s is not None else 900)
    except subprocess.TimeoutExpired:
        if after_s is None:
            raise
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return True
    finally:
        err = process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return False


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_sigkill_torture_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    setup = setup_demo(tmp_path / "demo")
    home = setup.home
    rng = random.Random(SEED)
    kills = 0
    while kills < KILLS:
        # The daemon, killed at a random moment (it recovers first when it starts).
        if not _run_and_maybe_kill(home, ["run", "--exit-when-idle"], rng.uniform(1.5, 6.0)):
            break  # it finished: every WO is done
        kills += 1
        # `orch recover` resumes the interrupted sessions; every other time it is killed too.
        after = rng.uniform(1.5, 6.0) if rng.random() < 0.5 else None
        kills += _run_and_maybe_kill(home, ["recover"], after)
    assert _run_and_maybe_kill(home, ["recover"], None) is False
    assert _run_and_maybe_kill(home, ["run", "--exit-when-idle"], None) is False
    assert kills >= KILLS, f"only {kills} kills: the work finished first"
    figures = check_invariants(home)
    # 18 sample WOs, plus the demo experiment's problem WO and its two variants' copies.
    assert figures["work_orders"] == 21
    assert figures["experiments"] == {"embeddings": "merged"}
