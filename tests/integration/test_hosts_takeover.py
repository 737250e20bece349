"""Several hosts on one PostgreSQL database and one bare remote (issue 14's acceptance test).

Homes on one machine, each with its own state, workspaces and clone, run the sample backlog
with the real daemon (``orch run``) and the real Claude Code CLI against the simulator. One
daemon alone first (the harness: a home that clones the project from the remote, every WO
done and merged through it); then three, one of which is SIGKILLed while its worker session
is live: the others take over its tracks and every WO is done exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.postgres import pg_url  # noqa: F401  (fixture)
from tests.support.recovery_home import wait_for
from tests.support.shared_hosts import check_shared_run, shared_run

pytestmark = [pytest.mark.integration]


@pytest.mark.timeout(600)
def test_one_host_runs_the_backlog_through_the_remote(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """The second home has no checkout: its daemon clones the project from the remote,
    works every track and merges each through the remote."""
    with shared_run(tmp_path, pg_url, hosts=2) as run:
        host = run.hosts[1]
        started = time.monotonic()
        proc = run.start(host)
        wait_for(lambda: proc.poll() is not None, 420, "the daemon to finish")
        took = time.monotonic() - started
        assert proc.returncode == 0, run.outputs()
        assert (host.home / "clones" / "app" / ".git").is_dir()
        figures = check_shared_run(run)
        print(f"one host: {took:.1f} s, {figures}")
