"""`--budget` is a hard cap, through the real CLI and the simulator: each session gets its
share of what is left as the CLI's own ``max_budget_usd``, so several slots at once cannot
overshoot by more than the turn each session in flight was in; the stop line and the
report give the same total."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT
from tests.integration.daemon_kit import open_home

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BUDGET = 0.25
SLOTS = 3


def test_budget_caps_the_run_with_several_slots(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    try:
        h.add_project("app", tmp_path / "app")
        for name in ("a", "b", "c", "d"):
            h.add_track("app", name, 3, activate=False)
    finally:
        h.store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "ANTHROPIC_"))}
    env.update(ISOLATED_GIT_ENV)
    env.update({"ORCH_MODEL_BACKEND": "sim", "ORCH_DAEMON_DISPATCH_INTERVAL_S": "0.2"})
    done = subprocess.run(
        [
            *(str(ORCH_SCRIPT), "--home", str(home), "run", "--exit-when-idle"),
            *("--budget", str(BUDGET), "--max-agents", str(SLOTS)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    (ended,) = [x for x in done.stdout.splitlines() if x.startswith("Run ended")]
    assert ended.startswith(f"Run ended (budget ${BUDGET:.2f} reached)"), ended
    line_total = float(re.findall(r"\$(\d+\.\d{4})", ended)[-1])
    report = Path(re.search(r"Report: (\S+)", done.stdout).group(1)).read_text()  # type: ignore[union-attr]
    assert f"cost: ${line_total:.4f}" in report, "the stop line and the report agree"

    conn = sqlite3.connect(home / "state" / "orchestrator.db")
    try:
        runs = conn.execute("SELECT cost_usd, turns, status FROM agent_runs").fetchall()
        attempts = [a for (a,) in conn.execute("SELECT attempts FROM work_orders")]
        failed = conn.execute("SELECT count(*) FROM work_orders WHERE status='failed'").fetchone()
    finally:
        conn.close()
    total = sum(cost for cost, _, _ in runs)
    assert abs(total - line_total) < 1e-4
    # The dearest single turn of any session: the unit of the allowed overshoot. A session
    # stopped within its first turn spent that turn (it counts no completed turn).
    turn = max(cost / max(turns, 1) for cost, turns, _ in runs)
    print(f"budget ${BUDGET} spent ${total:.4f} in {len(runs)} sessions; a turn <= ${turn:.4f}")
    assert total <= BUDGET + SLOTS * turn, (total, turn)
    # A session stopped at its share is the run's money, not the work's fault.
    assert failed == (0,) and max(attempts) <= 1
