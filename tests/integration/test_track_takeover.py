"""Two homes on one database and one bare remote: the daemon of host beta takes over the
track of host alpha, whose daemon died mid-WO, once alpha's track lease has expired.

What alpha's death leaves is made by hand (a claimed run, uncommitted work checkpointed and
pushed, a lease about to expire); beta is the real daemon with scripted agents. The three
daemons with real CLIs are ``test_hosts_takeover``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import anyio
import pytest
import structlog
from claude_agent_sdk import SessionKey, project_key_for_directory

from orchestrator.daemon.checkpoints import write_checkpoint_sync
from orchestrator.daemon.context import DaemonContext, RunOptions
from orchestrator.daemon.ownership import Ownership
from orchestrator.daemon.workspace import activate_track
from orchestrator.domain.lifecycle import RunStatus, TrackStatus
from orchestrator.domain.roles import Role
from orchestrator.git import GitRepo, run_git
from orchestrator.git.testing import write_files
from orchestrator.host_identity import clones_dir, ensure_host_id
from orchestrator.store.lease import STOP_REQUESTED
from tests.conftest import init_git_repo
from tests.integration.daemon_kit import Home, by_role, open_home, run_fake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: alpha's track lease outlives beta's start by this much: beta must wait it out.
ALPHA_LEASE_S = 2.0
SESSION = str(uuid.uuid4())


def placed(path: Path, host: str, store_url: str) -> Home:
    home = open_home(path, store_url=store_url)
    ensure_host_id(home.settings, host)
    home.store.place_here(host, clones_dir(home.settings))
    return home


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


def _context(home: Home) -> DaemonContext:
    """A daemon context for calling ``Ownership`` directly: no session runs through it."""
    return DaemonContext(
        settings=home.settings,
        store=home.store,
        runtime=None,  # type: ignore[arg-type]
        daemon_id=f"daemon-{home.path.name}",
        options=RunOptions(max_agents=1),
        limiter=anyio.CapacityLimiter(1),
        log=structlog.get_logger("orchestrator.daemon"),
    )


async def alpha_dies_mid_wo(alpha: Home, bare: Path) -> tuple[str, list[str]]:
    """Alpha's state as its daemon left it when killed working the first of t1's two WOs:
    the run live, a file written and checkpointed (pushed), the lease about to expire.
    Returns the dead run's id and the WO ids."""
    repo = init_git_repo(alpha.path.parent / "repos" / "demo")
    run_git(["push", "--quiet", str(bare), "main"], repo)
    alpha.store.add_project("demo", str(repo), "main", "", remote=f"file://{bare}", host_id="alpha")
    wos = alpha.add_track("demo", "t1", 2, activate=False)
    track = activate_track(alpha.store, alpha.settings.workspaces_dir, "t1", "test")
    worktree = Path(track.worktree_path or "")
    alpha.store.register_host("alpha", socket.gethostname(), str(alpha.path), os.getpid())
    # A live daemon lease of alpha: beta's recovery must not take its runs for interrupted.
    alpha.store.acquire_lease("daemon-alpha", os.getpid(), socket.gethostname(), 600.0)
    run = alpha.store.claim_work_order(wos[0], "t1", "daemon-alpha")
    # The session started and was mirrored under alpha's worktree.
    alpha.store.record_run(run.id, session_id=SESSION)
    key: SessionKey = {
        "project_key": project_key_for_directory(str(worktree)),
        "session_id": SESSION,
    }
    entry = {"type": "user", "uuid": str(uuid.uuid4()), "sessionId": SESSION, "message": "go"}
    await alpha.store.session_store().append(key, [entry])  # type: ignore[list-item]
    write_files(worktree, {"half-done.txt": "alpha's uncommitted work\n"})
    write_checkpoint_sync(
        alpha.store, GitRepo(repo), "t1", worktree, run_id=run.id, wo_id=wos[0],
        attempt=run.attempt, session_id=SESSION, cost_usd=0.0, reason="interrupted",
    )  # fmt: skip
    assert alpha.store.acquire_track_lease("t1", "alpha", ALPHA_LEASE_S) is not None
    return run.id, wos


async def test_beta_takes_over_alphas_track_after_its_lease_expires(
    tmp_path: Path, bare: Path
) -> None:
    alpha_path, beta_path = tmp_path / "alpha", tmp_path / "beta"
    for path in (alpha_path, beta_path):
        (path / "state").mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    alpha = placed(alpha_path, "alpha", url)
    dead_run, wos = await alpha_dies_mid_wo(alpha, bare)
    lease = alpha.store.track_lease("t1")
    assert lease is not None
    beta = placed(beta_path, "beta", url)
    options = RunOptions(max_agents=2, exit_when_idle=True)
    _, runtime = await run_fake(beta, by_role(), options, timeout=120)

    # Beta waited for the lease to expire, then stole it (its daemon lease did not stop it).
    (stolen,) = beta.events("track_lease_stolen")
    assert stolen.data == {"host": "beta", "previous": "alpha"}
    assert stolen.at.replace(tzinfo=lease.expires_at.tzinfo) >= lease.expires_at
    assert beta.store.get_run(dead_run).status == RunStatus.RESUMED.value
    # Both WOs done once, by beta's daemon, in beta's own clone and worktree.
    assert beta.wo_statuses() == dict.fromkeys(wos, "done")
    workers = [r for r in beta.runs("worker") if r.status == RunStatus.SUCCEEDED.value]
    assert sorted(r.wo_id or "" for r in workers) == sorted(wos)
    assert all(r.daemon_id != "daemon-alpha" for r in workers)
    track = beta.store.get_track("t1")
    # alpha's session was resumed in beta's worktree, its transcript carried to beta's key.
    (resumed,) = [s for s in runtime.specs if s.resume is not None]
    assert resumed.resume == SESSION and resumed.cwd == Path(track.worktree_path or "")
    assert str(resumed.cwd).startswith(str(beta_path))
    beta_key: SessionKey = {
        "project_key": project_key_for_directory(str(resumed.cwd)),
        "session_id": SESSION,
    }
    assert await beta.store.session_store().load(beta_key) is not None
    assert track.status == "completed"
    # The merge went through the remote, with alpha's checkpointed work carried into it.
    merged = run_git(["rev-parse", "refs/heads/main"], bare).stdout.strip()
    assert merged == track.merged_commit
    files = run_git(["ls-tree", "-r", "--name-only", merged], bare).stdout.split()
    assert {"half-done.txt", f"wo/{wos[0]}.txt", f"wo/{wos[1]}.txt"} <= set(files)
    assert run_git(["fsck", "--strict"], bare, check=False).ok
    assert (beta_path / "clones" / "demo").is_dir()
    assert beta.store.track_lease("t1") is None  # released once the track completed
    beta.assert_nothing_live()
    alpha.store.close()
    beta.store.close()
    shutil.rmtree(alpha_path / "workspaces", ignore_errors=True)


async def test_another_hosts_live_track_neither_blocks_nor_is_touched(
    tmp_path: Path, bare: Path
) -> None:
    """Alpha holds active t1 (live lease, work left): beta with one slot still activates
    and finishes its own t2, never steps t1, and waits (does not exit idle) while alpha
    works; a decision run alpha's daemon leaves live when it dies is settled; `orch stop`
    ends it."""
    alpha_path, beta_path = tmp_path / "alpha", tmp_path / "beta"
    for path in (alpha_path, beta_path):
        (path / "state").mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    alpha = placed(alpha_path, "alpha", url)
    repo = init_git_repo(tmp_path / "repos" / "demo")
    run_git(["push", "--quiet", str(bare), "main"], repo)
    alpha.store.add_project("demo", str(repo), "main", "", remote=f"file://{bare}", host_id="alpha")
    alpha.store.register_host("alpha", socket.gethostname(), str(alpha_path), os.getpid())
    t1 = alpha.add_track("demo", "t1", 1)
    assert alpha.store.acquire_track_lease("t1", "alpha", 600.0) is not None
    t2 = alpha.add_track("demo", "t2", 1, activate=False)
    beta = placed(beta_path, "beta", url)

    dead_decision: list[str] = []

    async def stop_when_t2_is_done() -> None:
        while beta.store.get_track("t2").status != "completed":
            await anyio.sleep(0.1)
        # Alpha's daemon dies now (beta started long ago), its global agent's run left live:
        # it holds no track, so no takeover settles it; beta's heartbeat does.
        hostname = socket.gethostname()
        alpha.store.acquire_lease("daemon-alpha", os.getpid(), hostname, 600.0)
        dead_decision.append(alpha.store.start_run(Role.GLOBAL, "daemon-alpha").id)
        alpha.store.acquire_lease("daemon-alpha", os.getpid(), hostname, -1.0)
        while beta.store.get_run(dead_decision[0]).status == RunStatus.RUNNING:
            await anyio.sleep(0.1)
        beta.store.request_stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_when_t2_is_done)
        options = RunOptions(max_agents=1, exit_when_idle=True)
        report, _ = await run_fake(beta, by_role(), options, 120)
        tg.cancel_scope.cancel()
    assert report.summary["stop_reason"] == STOP_REQUESTED  # not "idle"
    assert beta.store.get_run(dead_decision[0]).status == RunStatus.INTERRUPTED
    statuses = beta.wo_statuses()
    assert statuses[t2[0]] == "done" and statuses[t1[0]] != "done"
    assert [r.track_id for r in beta.runs("worker")] == ["t2"]
    lease = beta.store.track_lease("t1")
    assert lease is not None and lease.host_id == "alpha"
    alpha.store.close()
    beta.store.close()


async def test_a_track_counts_as_adopting_from_before_its_lease_is_stolen(
    tmp_path: Path, bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once stolen, a track is no longer another host's; until adopted it is not workable
    here either: the run's idle check in between must see a takeover going on."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    for host in ("alpha", "beta"):
        (tmp_path / host / "state").mkdir(parents=True)
    alpha = placed(tmp_path / "alpha", "alpha", url)
    await alpha_dies_mid_wo(alpha, bare)
    beta = placed(tmp_path / "beta", "beta", url)
    ownership = Ownership(_context(beta))
    adopting_at_steal: list[set[str]] = []

    def steal_refused(track_id: str, host: str, ttl_s: float) -> None:
        adopting_at_steal.append(set(ownership.adopting))
        return None  # as if another host were first

    monkeypatch.setattr(beta.store, "steal_track_lease", steal_refused)
    with anyio.fail_after(30):
        while not adopting_at_steal:  # alpha's lease expires after ALPHA_LEASE_S
            assert await ownership.take_over() == []
            await anyio.sleep(0.1)
    assert adopting_at_steal == [{"t1"}]
    assert ownership.adopting == set() and ownership.held == set()
    alpha.store.close()
    beta.store.close()


async def test_a_track_left_active_keeps_its_lease_while_a_step_still_runs_on_it(
    tmp_path: Path,
) -> None:
    """A paused track's lease is given up at the heartbeat, but not while a step (a worker
    draining, a paused variant's evaluation) still runs on it: another host could start
    the same work meanwhile."""
    (tmp_path / "alpha" / "state").mkdir(parents=True)
    alpha = placed(tmp_path / "alpha", "alpha", f"sqlite:///{tmp_path / 'shared.db'}")
    repo = init_git_repo(tmp_path / "repos" / "demo")
    alpha.store.add_project("demo", str(repo), "main", "", host_id="alpha")
    alpha.add_track("demo", "t1", 1)
    alpha.store.register_host("alpha", socket.gethostname(), str(alpha.path), os.getpid())
    ownership = Ownership(_context(alpha))
    assert await ownership.take(alpha.store.get_track("t1"))
    alpha.store.set_track_status("t1", TrackStatus.PAUSED, reason="by hand")
    assert await ownership.release_inactive(in_use={"t1"}) == []
    lease = alpha.store.track_lease("t1")
    assert lease is not None and lease.host_id == "alpha"
    assert await ownership.release_inactive() == ["t1"]
    assert alpha.store.track_lease("t1") is None
    alpha.store.close()
