"""A worker that tries to escape (the simulator's scripted escape mode), on the real CLI.

Its Bash writes into the user's checkout, rewrites the worktree's ``.git`` file to point at
the main repository, writes to the host's ``/tmp`` and to the worktree's parent, and moves
the base branch through the main repository's ``.git``. None of it lands: the sandbox
refuses each (read-only file system), the WO fails with the refusals as its reason (in the
run's events), the base branch is untouched. Its worktree and its private temp dir (under
the run's state) are writable, and the model's key is not in its Bash's environment.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from orchestrator.agents.claude_runtime import ClaudeRuntime
from orchestrator.daemon.backend import Backend
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.runner import run_daemon
from orchestrator.sim import SimServer, sim_env
from orchestrator.sim.escape import ALLOWED, escapes, outside_path
from tests.conftest import db_dump, git
from tests.integration.daemon_kit import open_home, replace_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
async def escaping_sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=5, worker_mode="escape") as server:
        yield server


async def test_an_escaping_worker_writes_nothing_outside_and_fails(
    home: Path, tmp_path: Path, escaping_sim: SimServer
) -> None:
    h = open_home(home)
    replace_settings(h, "model", backend="sim")
    repo = h.add_project("p", tmp_path / "repo", check="true")
    main_before = git(repo, "rev-parse", "main").strip()
    (wo_id,) = h.add_track("p", "esc", ["Try to escape"])
    worktree = h.settings.workspaces_dir / "p" / "esc"
    dot_git = (worktree / ".git").read_text()
    branch_before = git(repo, "rev-parse", "tracks/esc").strip()
    runtime = ClaudeRuntime(owner=h.settings.owner_id, kill_grace_s=2.0, sandbox=True)
    backend = Backend(
        runtime=runtime, session_env=sim_env(escaping_sim.base_url), sim_url=escaping_sim.base_url
    )
    replace_settings(h, "limits", max_attempts=1)
    with anyio.fail_after(240):
        await run_daemon(
            h.settings, h.store, RunOptions(max_agents=1, exit_when_idle=True), backend=backend
        )
    assert escaping_sim.errors() == []
    # Nothing outside the worktree: the user's checkout, /tmp, the worktree's parent.
    assert not (repo / "ESCAPED").exists()
    for spelling in (worktree, worktree.resolve()):
        assert not Path(outside_path(str(spelling))).exists()
    assert not (worktree.parent / "outside").exists()
    assert (worktree / ".git").read_text() == dot_git
    assert git(repo, "rev-parse", "main").strip() == main_before
    assert git(repo, "rev-parse", "tracks/esc").strip() == branch_before
    wo = h.wo(wo_id)
    assert wo.status == "failed"
    error = wo.last_error or ""
    assert error.startswith("worker reported failed: refused: "), error
    for command in escapes({"worktree": str(worktree)}):
        assert f"`{command}`" in error, (command, error)
    for command in ALLOWED:
        assert f"`{command}`" not in error, (command, error)
    (run,) = h.runs("worker")
    assert run.status == "failed" and run.error
    assert run.error.count("Read-only file system") >= 4, run.error
    # The run's own events (its transcript, mirrored into the DB) hold each denial, and
    # show a private TMPDIR and no model key in its Bash.
    transcript = "\n".join(
        line for line in db_dump(home) if 'INSERT INTO "transcript_entries"' in line
    )
    assert transcript.count("Read-only file system") >= 2 * 4
    # Its own temp dir, made for the session (not the CLI's shared /tmp/claude-<uid>).
    private = re.search(r"private tmp: (/[^\s\"]*/orch-[0-9a-f]{12})/claude-\d+", transcript)
    assert private is not None, "the worker's TMPDIR is not a private one"
    assert not Path(private.group(1)).exists()  # removed with the session
    assert "model key: []" in transcript
