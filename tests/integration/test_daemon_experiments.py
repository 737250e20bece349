"""Experiments in the real supervisor with scripted agents (fast): equal weight for the
variants whatever the global agent says, budgets, and the variants' worker payloads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
import structlog

from orchestrator.agents.fake_runtime import CallTool, Finish, Step, Write
from orchestrator.agents.protocol import SessionSpec
from orchestrator.daemon.context import DaemonContext, RunOptions
from orchestrator.daemon.experiment_start import start_experiment
from orchestrator.daemon.experiments import ExperimentPump
from orchestrator.daemon.hosting import register_host
from orchestrator.daemon.ownership import Ownership
from orchestrator.domain.experiment import ExperimentStatus, VariantStatus
from orchestrator.domain.experiment_spec import ExperimentSpec, HypothesisSpec
from orchestrator.domain.lifecycle import RunStatus, WOStatus
from orchestrator.git import run_git
from tests.conftest import init_git_repo
from tests.integration.daemon_kit import Home, by_role, open_home, payload_of, run_fake, set_weights

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SEEN: list[dict[str, object]] = []


def hypothesis_worker(spec: SessionSpec) -> list[Step]:
    """Writes the hypothesis it was given into its file and reports done."""
    payload = payload_of(spec)
    SEEN.append(payload)
    wo = payload["wo"]
    hypothesis = (payload.get("experiment") or {}).get("hypothesis", "")
    return [
        Write(f"wo/{wo['id']}.txt", f"{hypothesis}\n"),
        CallTool("report_result", {"status": "done", "summary": f"did {wo['id']}"}),
        Finish(cost_usd=0.01, input_tokens=100, output_tokens=10),
    ]


def _start(h: Home, name: str, **kw: object) -> None:
    spec = ExperimentSpec(
        name=name,
        project="p",
        hypotheses=(HypothesisSpec("score 1"), HypothesisSpec("score 2")),
        # The score is the number the variant wrote (what the worker wrote decides).
        eval_command="cat wo/*.txt | grep -o '[0-9]*' | tail -1",
        eval_runs=2,
        goal="do it",
        **kw,  # type: ignore[arg-type]
    )
    start_experiment(h.store, h.settings, spec)


async def test_a_variant_the_global_agent_starves_still_races(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    _start(h, "e")
    # The global agent gives one variant no share at all: the experiment's share is split
    # equally between its variants, so both still run.
    weights = {"e-a": 0.0, "e-b": 4.0}
    h.store.add_directive(weights, "starve e-a")
    SEEN.clear()
    await run_fake(
        h,
        by_role(worker=hypothesis_worker, global_=set_weights(weights)),
        RunOptions(max_agents=1, exit_when_idle=True),
        timeout=90,
    )
    experiment = h.store.get_experiment("e")
    tracks = {t["id"]: (t["status"], t["weight"], t["done_count"]) for t in h.store.list_tracks()}
    assert experiment.status is ExperimentStatus.MERGED, (tracks, h.worker_order())
    assert experiment.winner_track_id == "e-b"
    assert [v.score for v in experiment.variants] == [1.0, 2.0]
    # Each variant's worker was told its hypothesis, in the payload and the WO's context.
    told = {p["track"]["id"]: p["experiment"] for p in SEEN}  # type: ignore[index]
    assert told == {
        "e-a": {"id": "e", "variant": "e-a", "hypothesis": "score 1"},
        "e-b": {"id": "e", "variant": "e-b", "hypothesis": "score 2"},
    }
    assert all("score" in p["wo"]["context"][-1] for p in SEEN)  # type: ignore[index]
    h.assert_nothing_live()


async def test_a_variant_over_its_budget_is_disqualified(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    _start(h, "cheap", budget_per_variant_usd=0.005)
    await run_fake(h, by_role(worker=hypothesis_worker), timeout=90)
    experiment = h.store.get_experiment("cheap")
    assert experiment.status is ExperimentStatus.FAILED
    for variant in experiment.variants:
        assert variant.status is VariantStatus.CANCELLED
        assert variant.eval_error is not None and "over its budget" in variant.eval_error
        assert not variant.runs  # never scored
    h.assert_nothing_live()


async def test_a_variant_another_host_holds_is_evaluated_there_not_here(
    home: Path, tmp_path: Path
) -> None:
    """On a shared database the pump evaluates a finished variant only once it holds the
    variant track's lease: one another host holds is left to that host (its worktree)."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    _start(h, "e")
    ctx = DaemonContext(
        settings=h.settings,
        store=h.store,
        runtime=None,  # type: ignore[arg-type]  # no session: evaluations only
        daemon_id="daemon-here",
        options=RunOptions(max_agents=1),
        limiter=anyio.CapacityLimiter(1),
        log=structlog.get_logger("orchestrator.daemon"),
    )
    here = await register_host(ctx)
    pump = ExperimentPump(ctx, Ownership(ctx))
    await pump.round()  # activates both variants
    for track in ("e-a", "e-b"):
        for wo in h.store.list_work_orders(track=track):
            run = h.store.claim_work_order(wo["id"], track, "daemon-here")
            h.store.finish_run(run.id, RunStatus.SUCCEEDED, wo_status=WOStatus.DONE)
    h.store.register_host("other", "elsewhere", str(tmp_path / "other"), None)
    assert h.store.acquire_track_lease("e-a", "other", 600.0) is not None
    await pump.round()
    experiment = h.store.get_experiment("e")
    assert experiment.variant("e-a").status is VariantStatus.RUNNING
    assert not experiment.variant("e-a").runs
    assert experiment.variant("e-b").status is not VariantStatus.RUNNING
    lease = h.store.track_lease("e-b")
    assert lease is not None and lease.host_id == here


async def test_a_winner_lands_on_the_remotes_base_with_its_adr(home: Path, tmp_path: Path) -> None:
    """A project with a shared remote: the winner merges into the remote's base branch (the
    ADR in the merge commit), as any track's merge does, not only into this checkout."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    h = open_home(home)
    repo = init_git_repo(tmp_path / "repo")
    run_git(["push", "--quiet", str(bare), "main"], repo)
    h.store.add_project("p", str(repo), "main", "", remote=f"file://{bare}")
    _start(h, "e")
    await run_fake(h, by_role(worker=hypothesis_worker), timeout=90)
    experiment = h.store.get_experiment("e")
    assert experiment.status is ExperimentStatus.MERGED and experiment.winner_track_id == "e-b"
    assert run_git(["rev-parse", "refs/heads/main"], bare).stdout.strip() == experiment.merge_commit
    landed = run_git(["ls-tree", "-r", "--name-only", "main"], bare).stdout.split()
    assert experiment.adr_path in landed, landed
    assert run_git(["fsck", "--strict"], bare, check=False).ok
