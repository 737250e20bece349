"""The daemon end to end with the real Claude Code CLI against the simulator.

Each CLI session costs seconds of CPU, so this file keeps to two daemon runs: `orch demo`
through the real CLI (20 WOs, 8 tracks), and a small two-project run that checks what the
decision agents were shown and what they sent back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.agents.claude_runtime import ClaudeRuntime
from orchestrator.daemon.backend import Backend
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.decisions import WO_ID_IN_TEXT_RE
from orchestrator.daemon.runner import run_daemon
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.payload import find_payload
from orchestrator.sim import SimServer, sim_env
from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner, git, init_git_repo
from tests.integration.daemon_kit import Home, open_home, replace_settings

pytestmark = pytest.mark.integration

DEMO_KEYS = {"project_dir", "home", "report", "work_orders", "tracks", "cost_usd", "duration_s"}


def orch_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV)
    return env


@pytest.mark.timeout(900)
def test_demo_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    done = subprocess.run(
        [str(ORCH_SCRIPT), "demo", "--dir", str(root), "--json"],
        capture_output=True,
        text=True,
        env=orch_env(),
        timeout=840,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout)
    assert set(summary) >= DEMO_KEYS
    # 18 sample WOs in 8 tracks; the two embeddings WOs became one experiment: its problem
    # WO and one copy per variant.
    assert summary["work_orders"] == {"total": 21, "done": 21, "failed": 0}
    assert summary["cost_usd"] > 0 and summary["duration_s"] > 0
    home, project = Path(summary["home"]), Path(summary["project_dir"])
    experiment = summary["experiment"]
    scores = {v["track"]: v["score"] for v in experiment["variants"]}
    assert set(scores) == {"embeddings-chunked-cosine", "embeddings-bm25-hybrid"}
    # A winner by measurement: the better nDCG@3 on the fixture, merged with its ADR.
    assert len(set(scores.values())) == 2 and None not in scores.values()
    best = max(scores, key=lambda t: scores[t])
    assert summary["winner"] == experiment["winner"] == best
    assert experiment["status"] == "merged"
    (loser,) = set(scores) - {best}
    assert experiment["adr"] == "docs/decisions/0001-embeddings.md"
    assert (project / experiment["adr"]).is_file()
    assert Path(experiment["report"]).is_file()
    assert git(project, "rev-parse", f"tracks/{loser}").strip() not in git(
        project, "rev-list", "main"
    )
    all_tracks = {t["id"]: t for t in summary["tracks"]}
    assert all_tracks[loser]["status"] == "cancelled"
    tracks = {t: v for t, v in all_tracks.items() if t != loser}
    assert len(tracks) == 9
    assert all(t["status"] == "completed" and t["done"] == t["total"] for t in tracks.values())

    orch = OrchRunner(home)
    wos = orch.json("wo", "list")
    assert {w["status"] for w in wos} == {"done"}
    # Merge commits on main: (main before the merge, the merged branch tip).
    merges = [
        line.split()[:2]
        for line in git(project, "log", "--merges", "--format=%P", "main").split("\n")
        if line
    ]
    base_of = {tip: before for before, tip in merges}
    assert len(merges) == len(tracks)
    for track_id in tracks:
        branch = f"tracks/{track_id}"
        tip = git(project, "rev-parse", branch).strip()
        # The branch was merged into main with a merge commit.
        assert tip in base_of, track_id
        # One commit per WO of the track, named after it; nothing else on the branch.
        expected = {f"{w['id']}: {w['title']}" for w in wos if track_id in w["tracks"]}
        subjects = git(project, "log", "--no-merges", "--format=%s", f"{base_of[tip]}..{tip}")
        assert sorted(subjects.splitlines()) == sorted(expected), track_id
        listing = git(project, "worktree", "list", "--porcelain")
        assert f"branch refs/heads/{branch}" in listing
        assert str(home / "workspaces" / "demo-app" / track_id) in listing
    assert f"refs/heads/tracks/{loser}" not in git(project, "worktree", "list", "--porcelain")

    # Every WO's module and test landed on main, and the project's check passes there:
    # the daemon committed only work whose check passed in its worktree.
    for wo in wos:
        name = re.sub(r"[^a-z0-9]+", "_", wo["id"].lower())
        landed = bool(set(wo["tracks"]) & set(tracks))
        assert (project / "wo" / f"{name}.py").is_file() == landed, wo["id"]
    assert git(project, "status", "--porcelain") == ""
    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout[-2000:]
    assert "20 passed" in check.stdout

    report = Path(summary["report"])
    assert report.is_file() and report.parent == home / "state" / "reports"
    text = report.read_text()
    assert "work orders done: 21, failed: 0" in text
    for track_id in tracks:
        assert f"| {track_id} | completed |" in text
    assert f"| {loser} | cancelled |" in text
    assert "## Experiments" in text and f"| embeddings | merged | 2/2 | {best} |" in text

    # No agent process outlived the run; no run or WO is left live.
    status = orch.json("status")
    assert status["daemon"]["running"] is False
    assert status["runs"] == []
    assert status["work_orders"] == {"done": 21}
    assert status["directive"] is not None


def test_demo_no_run_prints_the_same_json(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = OrchRunner(tmp_path / "unused").json("demo", "--dir", root, "--no-run")
    assert set(result) >= DEMO_KEYS
    assert result["work_orders"] == {"total": 21, "done": 0, "failed": 0}
    assert result["report"] is None
    assert len(result["tracks"]) == 10
    variants = {t["id"] for t in result["tracks"] if t["status"] == "draft"}
    assert variants == {"embeddings-chunked-cosine", "embeddings-bm25-hybrid"}
    assert {t["status"] for t in result["tracks"]} == {"ready", "draft"}
    assert result["experiment"]["status"] == "running" and result["winner"] is None
    assert (root / "home" / "config" / "orchestrator.toml").is_file()
    # The same home again after a WO was done (as a run leaves it): reused, the done WO
    # stays done, nothing duplicated.
    store = SQLiteStore.open(root / "home" / "state" / "orchestrator.db")
    try:
        for status in (WOStatus.READY, WOStatus.RUNNING, WOStatus.DONE):
            store.set_wo_status("WO-2026-001", status, reason="as a run would")
    finally:
        store.close()
    again = OrchRunner(tmp_path / "unused").json("demo", "--dir", root, "--no-run")
    assert again["work_orders"] == {"total": 21, "done": 1, "failed": 0}
    assert [t["id"] for t in again["tracks"]] == [t["id"] for t in result["tracks"]]


def test_demo_refuses_a_directory_holding_another_home(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    other = OrchRunner(root / "home")
    other.ok("init")
    other.ok("project", "add", init_git_repo(tmp_path / "mine"))
    result = OrchRunner(tmp_path / "unused").fails("demo", "--dir", root, "--no-run")
    assert "not a demo home" in result.err
    assert not (root / "demo-app").exists()


# -- what the decision agents see ---------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=1, keep_requests=1000) as server:
        yield server


def sim_backend(h: Home, sim: SimServer) -> Backend:
    runtime = ClaudeRuntime(owner=h.settings.owner_id, kill_grace_s=2.0)
    return Backend(runtime=runtime, session_env=sim_env(sim.base_url), sim_url=sim.base_url)


def request_texts(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The user-side text of a request, and the tool calls the assistant made in it."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or []:
            if message.get("role") == "user" and block.get("type") == "text":
                texts.append(block["text"])
            if message.get("role") == "assistant" and block.get("type") == "tool_use":
                calls.append(block)
    return "\n".join(texts), calls


@pytest.mark.timeout(600)
async def test_decision_agents_see_only_their_scope(
    home: Path, tmp_path: Path, sim: SimServer
) -> None:
    h = open_home(home)
    replace_settings(h, "model", backend="sim")
    h.add_project("alpha", tmp_path / "alpha")
    h.add_project("beta", tmp_path / "beta")
    # Three WOs a track: the first starts by priority, its project agent chooses the others.
    own = {
        "alpha": h.add_track("alpha", "a-core", ["Alpha parser", "Alpha printer", "Alpha docs"]),
        "beta": h.add_track("beta", "b-core", ["Beta parser", "Beta printer", "Beta docs"]),
    }
    with anyio.fail_after(540):
        report = await run_daemon(
            h.settings,
            h.store,
            RunOptions(max_agents=2, exit_when_idle=True),
            backend=sim_backend(h, sim),
        )
    assert report.summary["work_orders"]["done"] == 6, report.path.read_text()
    assert sim.errors() == []

    # The global agent: track summaries across both projects, never a WO id, in or out.
    global_requests = sim.requests("global")
    assert global_requests
    for body in global_requests:
        text, calls = request_texts(body)
        payload = find_payload(text)
        assert payload is not None and payload["kind"] == "tracks_overview"
        assert {t["project"] for t in payload["tracks"]} <= {"alpha", "beta"}
        assert not WO_ID_IN_TEXT_RE.search(json.dumps(body)), "a WO id reached the global agent"
        for call in calls:
            assert not WO_ID_IN_TEXT_RE.search(json.dumps(call["input"]))
    first = find_payload(request_texts(global_requests[0])[0])
    assert first is not None
    assert {t["id"] for t in first["tracks"]} == {"a-core", "b-core"}
    made = [c for b in global_requests for c in request_texts(b)[1]]
    assert any(c["name"] == "mcp__orch__set_track_priorities" for c in made)
    assert h.store.latest_directive() is not None

    # Each project agent: its own project's WOs only, and it chose among them.
    project_requests = sim.requests("project")
    assert project_requests
    seen_projects = set()
    for body in project_requests:
        text, calls = request_texts(body)
        payload = find_payload(text)
        assert payload is not None and payload["kind"] == "choose_next"
        project = payload["project"]
        seen_projects.add(project)
        other = own["beta" if project == "alpha" else "alpha"]
        mentioned = set(WO_ID_IN_TEXT_RE.findall(json.dumps(body)))
        assert mentioned and mentioned <= set(own[project]), (project, mentioned)
        assert not mentioned & set(other)
        for call in calls:
            if call["name"] == "mcp__orch__choose_work_orders":
                assert set(call["input"]["wo_ids"]) <= set(own[project])
    assert seen_projects == {"alpha", "beta"}
    stats = sim.stats()["roles"]
    assert stats["worker"]["requests"] >= 6
    h.assert_nothing_live()
