"""SIGKILL during an experiment (variants running, evaluations, the decision and the merge),
then `orch recover` and `orch run` again: one winner, one merge, every run recorded once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner, git
from tests.support.invariants import check_invariants

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("ORCH_EXPERIMENT_KILLS", "5"))
SEED = int(os.environ.get("ORCH_TORTURE_SEED", "20261124"))

#: Scores by the number in the written hypothesis, slowly enough for kills to land in it.
EVAL_SCRIPT = r"""
import pathlib, re, time
time.sleep(0.7)
text = "".join(p.read_text() for p in pathlib.Path("wo").glob("*.py"))
print(int(re.search(r"^HYPOTHESIS = '\D*(\d+)", text, re.M).group(1)))
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV)
    env.update(
        {
            "ORCH_HOME": str(home),
            "ORCH_MODEL_BACKEND": "sim",
            "ORCH_MODEL_SIM_FAULTS": "latency:100ms",
            "ORCH_DAEMON_HEARTBEAT_INTERVAL_S": "1",
            "ORCH_DAEMON_DISPATCH_INTERVAL_S": "0.5",
        }
    )
    return env


def _run(home: Path, args: list[str], kill_after: float | None) -> bool:
    """``orch ARGS``; SIGKILL after ``kill_after`` s. True when it was killed."""
    process = subprocess.Popen(
        [str(ORCH_SCRIPT), *args],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        process.wait(timeout=kill_after if kill_after is not None else 600)
    except subprocess.TimeoutExpired:
        if kill_after is None:
            raise
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return True
    finally:
        err = process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return False


@pytest.mark.timeout(1200)
def test_kill_9_during_an_experiment_merges_exactly_once(
    home: Path, orch: OrchRunner, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("demo", {"README.md": "x\n", "eval/score.py": EVAL_SCRIPT})
    orch.ok("project", "add", repo)
    orch.ok(
        "experiment",
        "start",
        "--project",
        "demo",
        "--name",
        "race",
        "--hypothesis",
        "try 4",
        "--hypothesis",
        "try 6",
        "--hypothesis",
        "try 2",
        "--eval",
        "python3 eval/score.py",
        "--eval-runs",
        "3",
        "--goal",
        "Go fast",
    )
    rng = random.Random(SEED)
    kills = 0
    while kills < KILLS:
        # Kills early enough that an idle machine has not finished the experiment yet (a whole
        # experiment takes a few seconds there); on a loaded one some kills land before any
        # progress, which the loop absorbs.
        if not _run(home, ["run", "--exit-when-idle"], rng.uniform(1.5, 4.0)):
            break
        kills += 1
        kills += _run(home, ["recover"], rng.uniform(0.5, 3.0) if rng.random() < 0.5 else None)
    assert _run(home, ["recover"], None) is False
    assert _run(home, ["run", "--exit-when-idle"], None) is False
    assert kills >= 2, f"only {kills} kills: the experiment finished first"

    shown = orch.json("experiment", "show", "race")
    assert shown["status"] == "merged" and shown["winner"] == "race-b"
    figures = check_invariants(home)
    assert figures["experiments"] == {"race": "merged"}
    merges = git(repo, "log", "--merges", "--format=%s", "main").splitlines()
    assert merges == ["Merge experiment race: race-b won"]
