"""Experiments through the real CLI: `orch experiment ...` in-process, `orch run` as a real
daemon process with the bundled Claude Code CLI against the simulator.

The test repository's evaluation script reads what each variant's (simulated) worker wrote:
the worker records its hypothesis in its module, and the script turns that into a score or
into the failure the hypothesis asks for, so the winner is decided by what was written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OrchRunner, db_dump, git

pytestmark = pytest.mark.integration

#: Scores a variant by the number in the hypothesis its worker wrote into wo/*.py; a
#: hypothesis saying "crash", "silent" or "slow" makes the evaluation fail that way.
EVAL_SCRIPT = r"""
import pathlib, re, sys, time
text = "".join(p.read_text() for p in sorted(pathlib.Path("wo").glob("*.py")))
found = re.search(r"^HYPOTHESIS = (.*)$", text, re.M)
if not found:
    sys.exit("no hypothesis in wo/")
hypothesis = found.group(1)
if "crash" in hypothesis:
    print("boom: the evaluation broke", file=sys.stderr)
    sys.exit(3)
if "silent" in hypothesis:
    print("evaluated, but I forgot the number")
    sys.exit(0)
if "slow" in hypothesis:
    time.sleep(60)
number = int(re.search(r"(\d+)", hypothesis).group(1))
print("some log line")
print('{"speed": %d, "other": 1}' % number)
"""

RUN_TIMEOUT_S = 420


@pytest.fixture
def exp_repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo("demo", {"README.md": "hello\n", "eval/score.py": EVAL_SCRIPT})


@pytest.fixture
def exp_project(home: Path, orch: OrchRunner, exp_repo: Path) -> str:
    orch.ok("project", "add", exp_repo)
    return "demo"


def run_daemon(orch_proc: Callable[..., Any]) -> None:
    done = orch_proc(
        "run",
        "--model-backend",
        "sim",
        "--exit-when-idle",
        "--max-agents",
        "3",
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def start(orch: OrchRunner, *args: str) -> dict[str, Any]:
    orch.ok("experiment", "start", "--project", "demo", *args)
    name = args[args.index("--name") + 1]
    return orch.json("experiment", "show", name)  # type: ignore[no-any-return]


@pytest.mark.timeout(600)
def test_three_variants_the_best_median_is_merged_with_its_adr(
    orch: OrchRunner, exp_project: str, exp_repo: Path, orch_proc: Callable[..., Any]
) -> None:
    base = git(exp_repo, "rev-parse", "main").strip()
    started = start(
        orch,
        "--name",
        "speed",
        "--hypothesis",
        "use 3 workers",
        "--hypothesis",
        "use 9 workers",
        "--hypothesis",
        "use 5 workers",
        "--eval",
        "python3 eval/score.py",
        "--metric",
        "speed",
        "--goal",
        "Make the worker pool fast",
    )
    assert started["status"] == "running" and started["base_commit"] == base
    tracks = [v["track"] for v in started["variants"]]
    assert tracks == ["speed-a", "speed-b", "speed-c"]
    (original,) = started["originals"]
    # A commit on main after the start: the variants still start from the recorded base.
    (exp_repo / "LATER.md").write_text("after the start\n")
    git(exp_repo, "add", "LATER.md")
    git(exp_repo, "commit", "-q", "-m", "a commit after the experiment started")

    run_daemon(orch_proc)

    shown = orch.json("experiment", "show", "speed")
    assert shown["status"] == "merged"
    assert shown["winner"] == "speed-b"
    by_track = {v["track"]: v for v in shown["variants"]}
    assert {t: v["score"] for t, v in by_track.items()} == {
        "speed-a": 3.0,
        "speed-b": 9.0,
        "speed-c": 5.0,
    }
    assert all(v["scores"] == [v["score"]] * 3 for v in by_track.values())
    assert by_track["speed-b"]["status"] == "merged"
    assert {by_track[t]["status"] for t in ("speed-a", "speed-c")} == {"cancelled"}
    assert set(shown) >= {
        "id",
        "name",
        "project",
        "status",
        "base_commit",
        "eval_command",
        "metric",
        "direction",
        "decide",
        "variants",
        "winner",
        "report",
        "adr",
    }
    assert set(by_track["speed-a"]) >= {
        "track",
        "hypothesis",
        "status",
        "branch",
        "score",
        "scores",
        "eval_error",
        "cost_usd",
        "duration_s",
        "lines_changed",
    }
    assert by_track["speed-a"]["cost_usd"] > 0 and by_track["speed-a"]["lines_changed"] > 0

    # Every variant was cut from the recorded base commit.
    for track in tracks:
        assert git(exp_repo, "merge-base", base, f"tracks/{track}").strip() == base
        assert git(exp_repo, "rev-list", "--count", f"{base}..tracks/{track}").strip() == "1"
    # main has the winner's commit and the ADR (in the merge commit), none of the losers'.
    main_commits = set(git(exp_repo, "rev-list", "main").split())
    assert git(exp_repo, "rev-parse", "tracks/speed-b").strip() in main_commits
    for loser in ("speed-a", "speed-c"):
        assert git(exp_repo, "rev-parse", f"tracks/{loser}").strip() not in main_commits
        assert git(exp_repo, "rev-parse", f"refs/orchestrator/checkpoints/{loser}/0")
    merge = shown["merge_commit"]
    assert (
        git(exp_repo, "rev-parse", f"{merge}^2").strip()
        == git(exp_repo, "rev-parse", "tracks/speed-b").strip()
    )
    assert shown["adr"] == "docs/decisions/0001-speed.md"
    added = git(exp_repo, "diff-tree", "-r", "--name-only", "--diff-filter=A", f"{merge}^1", merge)
    assert "docs/decisions/0001-speed.md" in added.split()
    adr = git(exp_repo, "show", f"main:{shown['adr']}")
    for heading in ("## Context", "## Options", "## Decision", "## Consequences"):
        assert heading in adr
    assert "use 9 workers" in adr and "tracks/speed-a" in adr
    # The user's checkout of main followed the merge.
    assert (exp_repo / "docs/decisions/0001-speed.md").is_file()

    # The original WO is done, pointing at the merge; the losers' tracks are cancelled,
    # their worktrees gone, their branches kept.
    wo = orch.json("wo", "list")
    status = {w["id"]: w["status"] for w in wo}
    assert status[original] == "done"
    db = orch.home / "state" / "orchestrator.db"
    with sqlite3.connect(db) as conn:
        (done_commit,) = conn.execute(
            "SELECT done_commit FROM work_orders WHERE id = ?", (original,)
        ).fetchone()
    assert done_commit == merge
    listed = {t["id"]: t for t in orch.json("track", "list")}
    assert listed["speed-b"]["status"] == "completed"
    for loser in ("speed-a", "speed-c"):
        assert listed[loser]["status"] == "cancelled" and listed[loser]["worktree"] is None
        assert git(exp_repo, "rev-parse", "--verify", f"tracks/{loser}")

    report = Path(shown["report"]).read_text()
    for track in tracks:
        assert f"| {track} " in report or f"**{track}**" in report
    assert "use 5 workers" in report and "Winner: **speed-b**" in report
    assert orch.json("experiment", "list")[0]["winner"] == "speed-b"
    # The run report lists the experiment.
    run_reports = sorted((orch.home / "state" / "reports").glob("run-*.md"))
    assert "## Experiments" in run_reports[-1].read_text()


@pytest.mark.timeout(600)
def test_failing_evaluations_disqualify_with_their_reasons_and_nothing_is_merged(
    orch: OrchRunner, exp_project: str, exp_repo: Path, orch_proc: Callable[..., Any]
) -> None:
    start(
        orch,
        "--name",
        "broken",
        "--hypothesis",
        "crash while measuring",
        "--hypothesis",
        "stay silent about it",
        "--hypothesis",
        "be slow about it",
        "--eval",
        "python3 eval/score.py",
        "--metric",
        "speed",
        "--eval-timeout",
        "3",
        "--goal",
        "Measure something",
    )
    main_before = git(exp_repo, "rev-parse", "main").strip()
    run_daemon(orch_proc)

    shown = orch.json("experiment", "show", "broken")
    assert shown["status"] == "failed" and shown["winner"] is None
    errors = {v["track"]: v["eval_error"] for v in shown["variants"]}
    assert "exited with status 3" in errors["broken-a"] and "boom" in errors["broken-a"]
    assert "neither a number nor a JSON object" in errors["broken-b"]
    assert "forgot the number" in errors["broken-b"]
    assert "timed out after 3s" in errors["broken-c"]
    # The first failing run ends the evaluation: one run each, recorded.
    assert all(len(v["eval_runs"]) == 1 for v in shown["variants"])
    assert all(v["score"] is None for v in shown["variants"])
    # Nothing merged; the original WO goes back in line with the reason.
    assert git(exp_repo, "rev-parse", "main").strip() == main_before
    (original,) = shown["originals"]
    wo = next(w for w in orch.json("wo", "list") if w["id"] == original)
    assert wo["status"] == "ready"
    assert "every variant was disqualified" in Path(shown["report"]).read_text()
    listed = {t["id"]: t["status"] for t in orch.json("track", "list")}
    assert {listed[v] for v in errors} == {"cancelled"}


@pytest.mark.timeout(600)
def test_a_manual_experiment_waits_in_deciding_until_decided(
    orch: OrchRunner, exp_project: str, exp_repo: Path, orch_proc: Callable[..., Any]
) -> None:
    start(
        orch,
        "--name",
        "pick",
        "--hypothesis",
        "try 2",
        "--hypothesis",
        "try 8",
        "--eval",
        "python3 eval/score.py",
        "--metric",
        "speed",
        "--eval-runs",
        "1",
        "--decide",
        "manual",
        "--goal",
        "Pick by hand",
    )
    run_daemon(orch_proc)
    shown = orch.json("experiment", "show", "pick")
    assert shown["status"] == "deciding" and shown["winner"] is None
    status = orch.json("status")
    assert [e["id"] for e in status["experiments"]] == ["pick"]
    main_before = git(exp_repo, "rev-parse", "main").strip()

    before = db_dump(orch.home)
    bad = orch.fails("experiment", "decide", "pick", "--winner", "no-such-track")
    assert "not a variant of experiment pick" in bad.err
    assert db_dump(orch.home) == before
    assert git(exp_repo, "rev-parse", "main").strip() == main_before

    # A person may overrule the scores: the lower one wins when chosen.
    done = orch.ok("experiment", "decide", "pick", "--winner", "pick-a", "--reason", "simpler")
    assert "merged into main" in done.out
    shown = orch.json("experiment", "show", "pick")
    assert shown["status"] == "merged" and shown["winner"] == "pick-a"
    assert shown["decided_by"] == "manual" and shown["decision_reason"] == "simpler"
    assert "simpler" in git(exp_repo, "show", f"main:{shown['adr']}")
    assert orch.json("status")["experiments"] == []
    again = orch.fails("experiment", "decide", "pick")
    assert "is merged" in again.err


def test_cancel_before_any_run_gives_the_work_orders_back(
    orch: OrchRunner, exp_project: str, exp_repo: Path
) -> None:
    orch.ok("wo", "add", "--project", "demo", "--title", "the problem")
    (wo_id,) = [w["id"] for w in orch.json("wo", "list")]
    start(
        orch,
        "--name",
        "early",
        "--hypothesis",
        "one way",
        "--hypothesis",
        "another way",
        "--eval",
        "python3 eval/score.py",
        "--wo",
        wo_id,
    )
    assert next(w for w in orch.json("wo", "list") if w["id"] == wo_id)["status"] == "blocked"
    done = orch.ok("experiment", "cancel", "early")
    assert "cancelled" in done.out
    shown = orch.json("experiment", "show", "early")
    assert shown["status"] == "cancelled"
    assert {v["status"] for v in shown["variants"]} == {"cancelled"}
    assert next(w for w in orch.json("wo", "list") if w["id"] == wo_id)["status"] == "ready"
    listed = {t["id"]: t["status"] for t in orch.json("track", "list")}
    assert listed["early-a"] == listed["early-b"] == "cancelled"
    # The WO may join a new experiment once the old one gave it back.
    orch.ok(
        "experiment",
        "start",
        "--project",
        "demo",
        "--name",
        "later",
        "--hypothesis",
        "x",
        "--hypothesis",
        "y",
        "--eval",
        "true",
        "--wo",
        wo_id,
    )
    assert orch.fails("experiment", "cancel", "early").err.count("cancelled already") == 1


#: Like EVAL_SCRIPT, but each run adds a wobble (+0, +2, -1 by run) to the hypothesis's
#: number: two variants a point apart then lie within each other's spread.
WOBBLY_EVAL = r"""
import pathlib, re
count = pathlib.Path(".eval-count")
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
text = "".join(p.read_text() for p in sorted(pathlib.Path("wo").glob("*.py")))
number = int(re.search(r"^HYPOTHESIS = '\D*(\d+)", text, re.M).group(1))
print(number + (0, 2, -1)[n % 3])
"""


@pytest.mark.timeout(600)
def test_a_close_call_is_said_plainly_and_the_judge_breaks_it(
    orch: OrchRunner, exp_project: str, exp_repo: Path, orch_proc: Callable[..., Any]
) -> None:
    (exp_repo / "eval" / "wobbly.py").write_text(WOBBLY_EVAL)
    git(exp_repo, "add", "-A")
    git(exp_repo, "commit", "-q", "-m", "wobbly evaluation")
    start(
        orch,
        "--name",
        "close",
        "--hypothesis",
        "aim for 10",
        "--hypothesis",
        "aim for 11",
        "--eval",
        "python3 eval/wobbly.py",
        "--goal",
        "Get close",
    )
    run_daemon(orch_proc)
    shown = orch.json("experiment", "show", "close")
    scores = {v["track"]: sorted(v["scores"]) for v in shown["variants"]}
    assert scores == {"close-a": [9, 10, 12], "close-b": [10, 11, 13]}
    assert shown["status"] == "merged" and shown["winner"] == "close-b"
    assert shown["close_call"] and "not separate" in shown["close_call"]
    assert shown["decided_by"] == "judge"
    assert shown["decision_reason"].startswith("the judge picked close-b")
    report = Path(shown["report"]).read_text()
    assert "Close call" in report and "the judge picked close-b" in report
    db = orch.home / "state" / "orchestrator.db"
    with sqlite3.connect(db) as conn:
        judges = conn.execute("SELECT status FROM agent_runs WHERE role = 'judge'").fetchall()
    assert judges == [("succeeded",)]


def test_the_organizer_leaves_experiment_variants_out_of_its_structure(
    orch: OrchRunner, exp_project: str, home: Path
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.domain.organization import MAX_TOP_LEVEL_TRACKS, OrganizeMode
    from orchestrator.domain.proposal import validate_proposal
    from orchestrator.store.sqlite_store import SQLiteStore

    names = [f"lane{n}" for n in range(MAX_TOP_LEVEL_TRACKS)]
    for name in names:
        orch.ok("track", "create", "--project", "demo", "--name", name, "--type", "feature")
        orch.ok("wo", "add", "--project", "demo", "--title", f"work of {name}")
        wo_id = next(w["id"] for w in orch.json("wo", "list") if w["title"] == f"work of {name}")
        orch.ok("track", "assign", name, wo_id)
    orch.ok("wo", "add", "--project", "demo", "--title", "the problem")
    problem = next(w["id"] for w in orch.json("wo", "list") if w["title"] == "the problem")
    start(
        orch,
        "--name",
        "race",
        "--hypothesis",
        "a",
        "--hypothesis",
        "b",
        "--wo",
        problem,
        "--eval",
        "python3 eval/score.py",
    )
    store = SQLiteStore.open(load_settings(home).db_path)
    try:
        state = store.org_state("demo")
    finally:
        store.close()
    # Eight lanes of the user's own: the two variants do not make them ten.
    assert {t.name for t in state.live_tracks} == set(names)
    own = {w["id"] for w in orch.json("wo", "list") if w["title"].startswith("work of ")}
    listed = {w.id for w in state.work_orders}
    assert listed == own | {problem}, "a variant's copy of the problem is listed"
    by_name = {t.name: t.id for t in state.live_tracks}
    validate_proposal(
        state,
        OrganizeMode.REORG,
        {
            "tracks": [{"key": by_name[n], "name": n, "goal": n} for n in names],
            "assignments": [
                {"wo_id": w.id, "tracks": list(w.tracks) or [by_name[names[0]]]}
                for w in state.work_orders
            ],
        },
    )
