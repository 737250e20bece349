"""Recovery after a daemon died (kill -9): detection, dry run, filters, repairs, settling.

The crash state is seeded through the store (a WO claimed by a daemon whose pid is gone, its
run still ``running``, work on disk, a checkpoint, the lease still held) and then damaged the
way crashes damage worktrees. The model is a ``FakeRuntime``: these tests are about what
recovery does to the DB, git and processes, not about the CLI (see test_recovery_cli.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.agents.fake_runtime import CallTool, FakeRuntime, Finish, Hang, Say, Write
from orchestrator.agents.processes import OWNER_ENV, TOKEN_ENV
from orchestrator.daemon.checkpoints import write_checkpoint_sync
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.recovery import (
    abandoned_decisions,
    recover,
    repair_worktrees,
    settle_abandoned_decisions,
)
from orchestrator.daemon.runner import run_daemon, run_recover
from orchestrator.domain.errors import DaemonRunningError
from orchestrator.domain.lifecycle import RunStatus
from orchestrator.domain.payload import find_payload
from orchestrator.domain.roles import Role
from orchestrator.git.index_lock import index_lock_path
from orchestrator.git.repo import GitRepo
from orchestrator.git.worktrees import INITIALIZING_REASON
from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import db_dump, git, run_main
from tests.support.invariants import check_invariants
from tests.support.recovery_home import (
    DEAD_DAEMON,
    RecoveryHome,
    fake_backend,
    fake_context,
    fake_scripts,
    kill_agents,
    make_home,
    seed_crash,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SESSION = "0f4b1f55-7d1e-4c2e-9d55-3c1f1b8c2a10"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RecoveryHome]:
    made = make_home(
        tmp_path,
        {"alpha": 1, "beta": 1, "gamma": 1, "delta": 1, "epsilon": 1},
        check="true",
        gated=False,
    )
    yield made
    kill_agents(made.settings.owner_id)


def _orch(home: RecoveryHome, *args: str) -> Any:
    return run_main(["--home", str(home.path), *args])


def _commit_with_trailer(home: RecoveryHome, track: str, wo_id: str) -> str:
    """The WO's commit made by hand, as a worker would have before the daemon died."""
    worktree = home.worktree(track)
    (worktree / "wo").mkdir(exist_ok=True)
    (worktree / "wo" / f"{wo_id}.txt").write_text("done before the crash\n")
    git(worktree, "add", "-A")
    git(
        worktree,
        "commit",
        "-q",
        "-m",
        f"{wo_id}: by hand\n\nOrchestrator-WO: {wo_id}\nOrchestrator-Run: run-x\n",
    )
    return git(worktree, "rev-parse", "HEAD").strip()


def _run_fake_daemon(
    home: RecoveryHome, runtime: FakeRuntime, timeout: float = 90.0
) -> dict[str, Any]:
    store = home.store()
    try:
        options = RunOptions(max_agents=6, exit_when_idle=True)

        async def main() -> Any:
            with anyio.fail_after(timeout):
                return await run_daemon(
                    home.settings, store, options, backend=fake_backend(runtime)
                )

        report = anyio.run(main)
        return dict(report.summary)
    finally:
        store.close()


# -- detection and the dry run -----------------------------------------------------------------


def test_dry_run_lists_each_interrupted_run_with_its_action_and_changes_nothing(
    home: RecoveryHome,
) -> None:
    resumable = seed_crash(home, "alpha", session_id=SESSION, files={"wip.txt": "x\n"})
    restart = seed_crash(home, "beta")
    done_wo = home.tracks["gamma"][0]
    settled = seed_crash(home, "gamma", session_id=SESSION.replace("0f", "1f"))
    sha = _commit_with_trailer(home, "gamma", done_wo)
    before = db_dump(home.path)

    result = _orch(home, "recover", "--dry-run", "--json")
    assert result.code == 0, result
    plans = {p["run_id"]: p for p in result.json}
    assert set(plans) == {resumable, restart, settled}
    for plan in plans.values():
        assert set(plan) >= {"run_id", "track", "wo", "session_id", "action"}
    assert plans[resumable] == {
        "run_id": resumable,
        "track": "alpha",
        "wo": home.tracks["alpha"][0],
        "session_id": SESSION,
        "action": f"resume session {SESSION}",
    }
    assert plans[restart]["action"] == "restart work order (no session started)"
    assert plans[restart]["session_id"] is None
    assert plans[settled]["action"] == f"mark done (commit {sha[:12]} is on tracks/gamma)"

    text = _orch(home, "recover", "--dry-run")
    assert text.code == 0, text
    assert f"{resumable}  track=alpha" in text.out and "3 interrupted runs" in text.out

    only_run = _orch(home, "recover", "--dry-run", "--json", "--run", restart)
    assert [p["run_id"] for p in only_run.json] == [restart]
    only_track = _orch(home, "recover", "--dry-run", "--json", "--track", "gamma")
    assert [p["run_id"] for p in only_track.json] == [settled]

    # Nothing was changed, not even a journal line.
    assert db_dump(home.path) == before
    assert home.wo_statuses()[home.tracks["alpha"][0]] == "running"


def test_runs_of_a_live_daemon_are_not_interrupted_runs(home: RecoveryHome) -> None:
    seed_crash(home, "alpha", session_id=SESSION)
    store = home.store()
    try:
        # A daemon on another host, lease not expired: trusted, so recover refuses.
        store.acquire_lease("daemon-elsewhere", os.getpid(), "another-host", 3600.0)
    finally:
        store.close()
    refused = _orch(home, "recover", "--dry-run")
    assert refused.code == 2
    assert "is running on this home" in refused.err

    store = home.store()
    try:
        # Its lease expired: its runs are interrupted runs now.
        store.acquire_lease("daemon-elsewhere", os.getpid(), "another-host", -1.0)
    finally:
        store.close()
    listed = _orch(home, "recover", "--dry-run", "--json")
    assert listed.code == 0, listed
    assert [p["track"] for p in listed.json] == ["alpha"]


def test_a_dead_daemons_decision_runs_are_settled_and_no_one_elses(
    home: RecoveryHome,
) -> None:
    store = home.store()
    try:
        leases = {"daemon-dead": -1.0, "daemon-alive": 3600.0}
        for host, (daemon, ttl) in zip(("host-a", "host-b"), leases.items(), strict=True):
            store.place_here(host, home.path / host)
            store.acquire_lease(daemon, os.getpid(), host, ttl)
        dead = store.start_run(Role.GLOBAL, "daemon-dead").id
        alive = store.start_run(Role.GLOBAL, "daemon-alive").id
        mine = store.start_run(Role.GLOBAL, "daemon-me").id
        one_shot = store.start_run(Role.ORGANIZER, "daemon-of-orch-organize").id
        assert abandoned_decisions(store, "daemon-me") == [store.get_run(dead)]
        assert settle_abandoned_decisions(store, "daemon-me") == [dead]
        assert store.get_run(dead).status == RunStatus.INTERRUPTED
        assert {store.get_run(r).status for r in (alive, mine, one_shot)} == {RunStatus.RUNNING}
        assert settle_abandoned_decisions(store, "daemon-me") == []
    finally:
        store.close()


# -- settling ----------------------------------------------------------------------------------


def test_commit_already_on_the_branch_is_marked_done_not_run_again(home: RecoveryHome) -> None:
    wo = home.tracks["alpha"][0]
    run_id = seed_crash(home, "alpha", session_id=SESSION)
    sha = _commit_with_trailer(home, "alpha", wo)
    runtime = FakeRuntime(fake_scripts())
    store = home.store()
    try:

        async def main() -> Any:
            return await run_recover(
                home.settings,
                store,
                RunOptions(max_agents=4),
                only_run=run_id,
                backend=fake_backend(runtime),
            )

        actions, report = anyio.run(main)
        run = store.get_run(run_id)
        row, _wo, _tracks = store.get_work_order(wo)
    finally:
        store.close()
    assert [a["action"] for a in actions] == [f"mark done (commit {sha[:12]} is on tracks/alpha)"]
    assert report is None  # nothing to resume
    assert run.status == "succeeded"
    assert row.status == "done" and row.done_commit == sha
    assert not runtime.specs, "a WO whose commit is on the branch must not run again"
    # The daemon then finishes the track (merges it) and runs only the other tracks' WOs.
    summary = _run_fake_daemon(home, runtime)
    assert summary["work_orders"]["done"] == 4
    assert wo not in {
        find_payload(s.user_prompt)["wo"]["id"]  # type: ignore[index]
        for s in runtime.specs
        if s.role is Role.WORKER
    }
    statuses = dict(home.sql("SELECT id, status FROM tracks"))
    assert statuses["alpha"] == "completed"
    assert git(home.project_dir, "show", f"main:wo/{wo}.txt") == "done before the crash\n"
    check_invariants(home.path)


def test_a_run_without_a_session_restarts_its_work_order(home: RecoveryHome) -> None:
    run_id = seed_crash(home, "beta")
    runtime = FakeRuntime(fake_scripts())
    store = home.store()
    try:

        async def main() -> Any:
            return await run_recover(
                home.settings, store, RunOptions(max_agents=4), backend=fake_backend(runtime)
            )

        actions, _report = anyio.run(main)
        assert store.get_run(run_id).status == "interrupted"
    finally:
        store.close()
    assert [a["action"] for a in actions] == ["restart work order (no session started)"]
    worker_specs = [s for s in runtime.specs if s.role is Role.WORKER]
    assert len(worker_specs) == 1 and worker_specs[0].resume is None
    assert home.wo_statuses()[home.tracks["beta"][0]] == "done"


# -- --run and --track recover just one --------------------------------------------------------


def _stale_lock(home: RecoveryHome, track: str) -> Path:
    repo = GitRepo(home.project_dir)
    lock = index_lock_path(repo, home.worktree(track))
    lock.write_bytes(b"left by a killed git")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    return lock


def test_track_and_run_filters_recover_just_that_one(home: RecoveryHome) -> None:
    alpha_run = seed_crash(home, "alpha", session_id=SESSION)
    beta_run = seed_crash(home, "beta", session_id=SESSION.replace("0f", "2f"))
    alpha_lock, beta_lock = _stale_lock(home, "alpha"), _stale_lock(home, "beta")
    runtime = FakeRuntime(fake_scripts())
    store = home.store()
    try:

        def recover_one(**only: str) -> list[dict[str, Any]]:
            async def main() -> Any:
                return await run_recover(
                    home.settings,
                    store,
                    RunOptions(max_agents=4),
                    backend=fake_backend(runtime),
                    **only,
                )

            actions, _ = anyio.run(main)
            return list(actions)

        actions = recover_one(only_track="alpha")
        assert [a["run_id"] for a in actions] == [alpha_run]
        assert not alpha_lock.exists()
        assert beta_lock.exists(), "--track alpha must leave beta alone"
        assert store.get_run(beta_run).status == "running"
        statuses = home.wo_statuses()
        assert statuses[home.tracks["alpha"][0]] == "done"
        assert statuses[home.tracks["beta"][0]] == "running"

        actions = recover_one(only_run=beta_run)
        assert [a["run_id"] for a in actions] == [beta_run]
        assert not beta_lock.exists()
        assert home.wo_statuses()[home.tracks["beta"][0]] == "done"
        assert store.live_runs() == []
    finally:
        store.close()


# -- seeded damage -----------------------------------------------------------------------------


def _admin_dir(worktree: Path) -> Path:
    return Path(git(worktree, "rev-parse", "--path-format=absolute", "--git-dir").strip())


@pytest.fixture
def orphan(home: RecoveryHome) -> Iterator[subprocess.Popen[bytes]]:
    """A process the dead daemon's CLI left behind: marked with this home's owner id."""
    env = {
        **os.environ,
        OWNER_ENV: home.settings.owner_id,
        TOKEN_ENV: "token-of-a-dead-session",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], env=env, start_new_session=True
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_seeded_damage_is_repaired_and_nothing_is_lost(
    home: RecoveryHome, orphan: subprocess.Popen[bytes]
) -> None:
    repo = GitRepo(home.project_dir)
    runs = {
        "alpha": seed_crash(home, "alpha", session_id=SESSION),
        "beta": seed_crash(home, "beta", files={"notes/beta-wip.txt": "half done\n"}),
        "gamma": seed_crash(home, "gamma", files={"notes/gamma-wip.txt": "first draft\n"}),
        "delta": seed_crash(home, "delta"),
        "epsilon": seed_crash(home, "epsilon", files={"notes/eps.txt": "eps\n"}),
    }
    # alpha: a stale index.lock that no process holds (a git killed with the daemon).
    lock = _stale_lock(home, "alpha")
    # beta: its worktree directory deleted; the last checkpoint holds its uncommitted work.
    shutil.rmtree(home.worktree("beta"))
    # gamma: a newer checkpoint whose record is corrupt, and the worktree deleted: the
    # restore must skip the corrupt one for the previous good one.
    (home.worktree("gamma") / "notes" / "gamma-wip.txt").write_text("second draft\n")
    store = home.store()
    try:
        write_checkpoint_sync(
            store,
            repo,
            "gamma",
            home.worktree("gamma"),
            run_id=runs["gamma"],
            wo_id=home.tracks["gamma"][0],
            attempt=1,
            session_id=None,
            cost_usd=0.02,
            reason="interrupted",
        )
    finally:
        store.close()
    newest = home.checkpoints("gamma")[-1]
    home.sql("UPDATE checkpoints SET checksum = ? WHERE id = ?", "0" * 64, newest.id)
    shutil.rmtree(home.worktree("gamma"))
    # delta: what a killed `git worktree add` leaves: locked as initializing, half checked out.
    delta = home.worktree("delta")
    admin = _admin_dir(delta)
    (admin / "locked").write_text(INITIALIZING_REASON)
    (admin / "index").unlink()
    (delta / "app" / "calc.py").unlink()
    # epsilon: its branch still registered (and locked) at another path that is gone, so
    # plain git refuses it as "already used by worktree"; its own directory is gone too.
    eps = home.worktree("epsilon")
    elsewhere = home.path / "old-workspaces" / "epsilon"
    git(home.project_dir, "worktree", "remove", "--force", str(eps))
    git(home.project_dir, "worktree", "add", "-q", str(elsewhere), "tracks/epsilon")
    git(home.project_dir, "worktree", "lock", str(elsewhere))
    shutil.rmtree(elsewhere)
    with pytest.raises(subprocess.CalledProcessError):
        git(home.project_dir, "worktree", "add", "-q", str(eps), "tracks/epsilon")

    runtime = FakeRuntime(fake_scripts())
    store = home.store()
    try:

        async def main() -> Any:
            return await recover(fake_context(home, store, runtime))

        with capture_logs() as logs:
            actions = anyio.run(main)
    finally:
        store.close()
    notes = [e["note"] for e in logs if e["event"] == "worktree_repaired"]
    assert {a["run_id"] for a in actions} == set(runs.values())

    # The orphan is ended.
    orphan.wait(timeout=15)
    assert next(e for e in logs if e["event"] == "orphans_ended")["pids"] == [orphan.pid]
    # alpha: lock gone.
    assert not lock.exists()
    assert "alpha: removed stale index.lock" in notes
    # beta: re-created on its branch, its uncommitted work back.
    beta = home.worktree("beta")
    assert (beta / "notes" / "beta-wip.txt").read_text() == "half done\n"
    assert git(beta, "symbolic-ref", "--short", "HEAD").strip() == "tracks/beta"
    assert "beta: re-created missing worktree from its branch" in notes
    # gamma: the corrupt checkpoint reported and skipped, the previous good one restored; the
    # corrupt one's snapshot is still kept in git.
    gamma = home.worktree("gamma")
    assert (gamma / "notes" / "gamma-wip.txt").read_text() == "first draft\n"
    assert f"gamma: checkpoint {newest.id} is corrupt (checksum mismatch), skipped" in notes
    assert newest.snapshot_ref is not None
    assert git(home.project_dir, "show", f"{newest.snapshot_ref}:notes/gamma-wip.txt") == (
        "second draft\n"
    )
    # delta: the initializing worktree finished: unlocked, files back, clean.
    wt = repo.find_worktree(delta)
    assert wt is not None and not wt.is_locked and wt.branch == "tracks/delta"
    assert (delta / "app" / "calc.py").exists() and repo.is_clean(delta)
    # epsilon: the branch freed from the stale registration, the worktree back in place.
    assert repo.find_worktree(elsewhere) is None
    wt = repo.find_worktree(eps)
    assert wt is not None and wt.branch == "tracks/epsilon"
    assert (eps / "notes" / "eps.txt").read_text() == "eps\n"
    assert not [n for n in notes if "failed" in n], notes
    # What each crashed session left (after the repairs) is kept as a checkpoint.
    for track, rel, text in (
        ("beta", "notes/beta-wip.txt", "half done\n"),
        ("gamma", "notes/gamma-wip.txt", "first draft\n"),
    ):
        last = home.checkpoints(track)[-1]
        assert last.reason == "recovered" and last.run_id == runs[track]
        assert last.snapshot_ref is not None
        assert git(home.project_dir, "show", f"{last.snapshot_ref}:{rel}") == text
    last = home.checkpoints("alpha")[-1]
    assert last.reason == "recovered" and last.session_id == SESSION
    assert last.snapshot_ref is None and last.head_sha  # clean: its HEAD says it all

    # Every WO then completes, each exactly once, and the restored work is merged too.
    summary = _run_fake_daemon(home, runtime)
    assert summary["work_orders"] == {"done": 5, "failed": 0}
    assert git(home.project_dir, "show", "main:notes/beta-wip.txt") == "half done\n"
    assert git(home.project_dir, "show", "main:notes/gamma-wip.txt") == "first draft\n"
    check_invariants(home.path)
    # alpha's session was unknown to this runtime: the resume by its id failed and a fresh
    # session started with the same recovery prompt (what happened, the worktree's state).
    alpha = [s for s in runtime.specs if s.role is Role.WORKER and s.cwd.name == "alpha"]
    assert [s.resume for s in alpha] == [SESSION, None]
    assert alpha[0].run_id == alpha[1].run_id
    for spec in alpha:
        assert "Your session was interrupted and has now been resumed" in spec.user_prompt
        assert "Worktree state now: HEAD " in spec.user_prompt


def test_an_index_lock_held_by_a_live_process_is_kept(home: RecoveryHome) -> None:
    lock = _stale_lock(home, "alpha")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; f = open(sys.argv[1], 'rb'); print('open', flush=True); "
            "time.sleep(600)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        store = home.store()
        try:
            notes = repair_worktrees(
                store, home.settings.workspaces_dir, _NullLog(), only={"alpha"}
            )
            assert lock.exists(), "a lock a live process holds must stay"
            assert notes == []
            holder.kill()
            holder.wait(timeout=10)
            notes = repair_worktrees(
                store, home.settings.workspaces_dir, _NullLog(), only={"alpha"}
            )
        finally:
            store.close()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)
    assert not lock.exists()
    assert notes == ["alpha: removed stale index.lock"]


class _NullLog:
    def error(self, *args: Any, **kwargs: Any) -> None:
        pass

    def info(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_a_worktree_initializing_without_head_is_rebuilt(home: RecoveryHome) -> None:
    # git writes HEAD as the null id before anything else: killed then, nothing to finish.
    seed_crash(home, "delta")
    delta = home.worktree("delta")
    admin = _admin_dir(delta)
    (admin / "locked").write_text(INITIALIZING_REASON)
    (admin / "HEAD").write_text("0" * 40 + "\n")
    (admin / "index").unlink()
    shutil.rmtree(delta / "app")
    store = home.store()
    try:
        notes = repair_worktrees(store, home.settings.workspaces_dir, _NullLog(), only={"delta"})
    finally:
        store.close()
    assert not [n for n in notes if "failed" in n], notes
    repo = GitRepo(home.project_dir)
    wt = repo.find_worktree(delta)
    assert wt is not None and not wt.is_locked and wt.branch == "tracks/delta"
    assert (delta / "app" / "calc.py").exists() and repo.is_clean(delta)


# -- the lease and stops during `orch recover` -------------------------------------------------


def test_recover_holds_the_lease_while_it_resumes_and_stops_on_orch_stop(
    home: RecoveryHome,
) -> None:
    """`orch recover` runs sessions for as long as they take: it must heartbeat its lease (a
    daemon starting meanwhile would take its live runs for interrupted ones and run the
    same WOs again), and `orch stop` must interrupt it like a daemon."""
    run_id = seed_crash(home, "alpha")

    def worker(spec: Any) -> list[Any]:
        wo = find_payload(spec.user_prompt)["wo"]  # type: ignore[index]
        if spec.resume:
            return [Write("wip.txt", "x\n"), Say("resumed"), *_report(wo["id"])]
        return [Write("wip.txt", "x\n"), Hang(), *_report(wo["id"])]

    runtime = FakeRuntime(fake_scripts(worker))
    settings = home.settings
    import dataclasses

    settings = dataclasses.replace(
        settings,
        # A short lease (ten heartbeats long, so a loaded machine's stall does not lose it).
        daemon=dataclasses.replace(settings.daemon, lease_ttl_s=2.0, heartbeat_interval_s=0.2),
    )
    lease_ttl_s = settings.daemon.lease_ttl_s

    def renewed_for(seconds: float) -> bool:
        """The daemon's lease has been renewed for longer than ``seconds`` since it was taken."""
        rows = home.sql("SELECT acquired_at, heartbeat_at FROM daemon_lease")
        if not rows:
            return False
        acquired, beat = (datetime.fromisoformat(str(value)) for value in rows[0])
        return (beat - acquired).total_seconds() > seconds

    store = home.store()
    other = SQLiteStore.open(settings.db_path)
    outcome: dict[str, Any] = {}
    try:

        async def main() -> None:
            async def probe() -> None:
                with anyio.fail_after(30):
                    while not [r for r in store.live_runs() if r.session_id]:
                        await anyio.sleep(0.05)
                # Several lease lifetimes later, the lease is still held...
                with anyio.fail_after(30):
                    while not renewed_for(2 * lease_ttl_s):
                        await anyio.sleep(0.1)
                try:
                    other.acquire_lease("daemon-intruder", os.getpid(), socket.gethostname(), 30)
                    outcome["intruder"] = "took the lease"
                    tg.cancel_scope.cancel()
                    return
                except DaemonRunningError:
                    outcome["intruder"] = "refused"
                # ... and `orch stop` interrupts the resumed session.
                outcome["stop"] = other.request_stop()
                outcome["asked"] = time.monotonic()

            async with anyio.create_task_group() as tg:
                tg.start_soon(probe)
                with anyio.fail_after(60):
                    outcome["result"] = await run_recover(
                        settings, store, RunOptions(max_agents=4), backend=fake_backend(runtime)
                    )
                outcome["ended"] = time.monotonic()

        anyio.run(main)
        assert outcome["intruder"] == "refused", "the lease expired while recover ran sessions"
        assert outcome["stop"] is not None
        assert outcome["ended"] - outcome["asked"] < 5.0
        runs = [r for r in store.list_runs() if r.role == "worker"]
        resumed = [r for r in runs if r.id != run_id]
        assert len(resumed) == 1 and resumed[0].status == "interrupted"
        assert resumed[0].session_id is not None
        assert store.live_runs() == []
        lease = store.current_lease()
        assert lease is not None and not store.lease_is_live(lease)
        good, _ = store.latest_good_checkpoint("alpha")
        assert good is not None and good.reason == "interrupted"
        assert good.session_id == resumed[0].session_id
    finally:
        store.close()
        other.close()
    assert home.wo_statuses()[home.tracks["alpha"][0]] == "ready"


def _report(wo_id: str) -> list[Any]:
    return [
        Write(f"wo/{wo_id}.txt", "done\n"),
        CallTool("report_result", {"status": "done", "summary": f"did {wo_id}"}),
        Finish(cost_usd=0.01),
    ]


# -- graceful stop, then the same session resumes ---------------------------------------------


def test_orch_stop_checkpoints_and_the_next_run_resumes_the_same_session(
    home: RecoveryHome,
) -> None:
    def worker(spec: Any) -> list[Any]:
        wo = find_payload(spec.user_prompt)["wo"]  # type: ignore[index]
        first = Say("resumed, carrying on") if spec.resume else Hang()
        return [Write(f"notes/{wo['id']}-wip.txt", "wip\n"), first, *_report(wo["id"])]

    runtime = FakeRuntime(fake_scripts(worker))
    store = home.store()
    timing: dict[str, float] = {}
    try:

        async def main() -> None:
            async def stopper() -> None:
                with anyio.fail_after(30):
                    while len([r for r in store.live_runs() if r.role == "worker"]) < 5 or any(
                        r.session_id is None for r in store.live_runs()
                    ):
                        await anyio.sleep(0.05)
                await anyio.sleep(0.3)
                timing["asked"] = time.monotonic()
                assert store.request_stop() is not None

            async with anyio.create_task_group() as tg:
                tg.start_soon(stopper)
                with anyio.fail_after(60):
                    await run_daemon(
                        home.settings,
                        store,
                        RunOptions(max_agents=6),
                        backend=fake_backend(runtime),
                    )
                timing["ended"] = time.monotonic()

        anyio.run(main)
        assert timing["ended"] - timing["asked"] < home.settings.daemon.shutdown_grace_s
        first = {r.track_id: r for r in store.list_runs() if r.role == "worker"}
        assert {r.status for r in first.values()} == {"interrupted"}
        lease = store.current_lease()
        assert lease is not None and not store.lease_is_live(lease)
        for track, run in first.items():
            assert track is not None
            good, corrupt = store.latest_good_checkpoint(track)
            assert good is not None and not corrupt
            assert good.reason == "interrupted" and good.run_id == run.id
            assert good.session_id == run.session_id is not None
            assert good.snapshot_ref is not None
            wo = run.wo_id
            assert git(home.project_dir, "show", f"{good.snapshot_ref}:notes/{wo}-wip.txt") == (
                "wip\n"
            )
    finally:
        store.close()
    assert set(home.wo_statuses().values()) == {"ready"}

    # The next run resumes each session by its id, with the recovery prompt.
    summary = _run_fake_daemon(home, runtime)
    assert summary["work_orders"] == {"done": 5, "failed": 0}
    resumes = [s for s in runtime.specs if s.role is Role.WORKER and s.resume]
    assert sorted(s.resume for s in resumes) == sorted(  # type: ignore[type-var]
        r.session_id for r in first.values()
    )
    for spec in resumes:
        assert "Your session was interrupted and has now been resumed" in spec.user_prompt
    check_invariants(home.path)


def test_a_daemon_start_recovers_a_dead_daemons_runs(home: RecoveryHome) -> None:
    seed_crash(home, "alpha", session_id=SESSION)
    seed_crash(home, "beta")
    assert home.sql("SELECT holder FROM daemon_lease") == [(DEAD_DAEMON,)]
    runtime = FakeRuntime(fake_scripts())
    summary = _run_fake_daemon(home, runtime)
    assert summary["work_orders"] == {"done": 5, "failed": 0}
    check_invariants(home.path)
