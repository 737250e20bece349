"""Dispatch through the real supervisor (scripted agents): weights, one worker per track,
the global agent's directive, and what each decision agent is shown."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.agents.fake_runtime import CallTool, Finish, Hang, Spend, Step, WaitUntil
from orchestrator.agents.protocol import SessionSpec
from orchestrator.daemon.context import RunOptions
from orchestrator.daemon.decisions import WO_ID_IN_TEXT_RE
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.roles import Role
from tests.conftest import OrchRunner
from tests.integration.daemon_kit import (
    by_role,
    choose_all,
    open_home,
    payload_of,
    replace_settings,
    run_fake,
    set_weights,
    simple_worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_weights_3_to_1_with_one_slot(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    heavy = h.add_track("p", "heavy", 10)
    light = h.add_track("p", "light", 10)
    # The weights of an earlier round: the first slot is given before this run's round ends.
    h.store.add_directive({"heavy": 3.0, "light": 1.0}, "last night's weights")
    report, _ = await run_fake(
        h,
        by_role(global_=set_weights({"heavy": 3.0, "light": 1.0})),
        RunOptions(max_agents=1, exit_when_idle=True),
        timeout=90,
    )
    order = h.worker_order()
    assert len(order) == len(heavy) + len(light)
    # While both tracks have work, slots follow the weights 3:1 within one pick.
    both = order[:12]
    for n in range(1, len(both) + 1):
        assert abs(both[:n].count("heavy") - 0.75 * n) <= 1, both
    assert Counter(both) == {"heavy": 9, "light": 3}
    assert all(s == "done" for s in h.wo_statuses().values())
    h.assert_nothing_live()
    # Never two workers at once with one slot: each ended before the next began.
    workers = h.runs("worker")
    for before, after in itertools.pairwise(workers):
        assert before.ended_at is not None and before.ended_at <= after.started_at, (
            before.id,
            after.id,
        )
    # This run's global agent set them again through its tool, stored as its directive.
    ours = [e.data["weights"] for e in h.events("directive") if e.run_id is not None]
    assert ours and ours[0] == {"heavy": 3.0, "light": 1.0}, ours
    assert report.summary["work_orders"]["done"] == 20


async def test_at_most_one_worker_per_track(home: Path, tmp_path: Path) -> None:
    """More slots than tracks: each track still runs one WO at a time."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "a", 4)
    h.add_track("p", "b", 4)
    await run_fake(h, by_role(), RunOptions(max_agents=4, exit_when_idle=True))
    intervals: dict[str, list[tuple[object, object]]] = {}
    for run in h.runs("worker"):
        intervals.setdefault(str(run.track_id), []).append((run.started_at, run.ended_at))
    for track, spans in intervals.items():
        spans.sort(key=lambda s: str(s[0]))
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert str(end) <= str(start), (track, spans)
    assert all(s == "done" for s in h.wo_statuses().values())
    h.assert_nothing_live()


async def test_zero_weight_and_paused_tracks_get_no_slot(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "run", 2)
    h.add_track("p", "zero", 2)
    paused = h.add_track("p", "held", 2)
    h.store.set_track_status("held", TrackStatus.PAUSED, reason="by hand")
    # An earlier round's weights: the first slots are given before this run's round ends.
    h.store.add_directive({"run": 1.0, "zero": 0.0}, "last night's weights")
    await run_fake(
        h,
        by_role(global_=set_weights({"run": 1.0, "zero": 0.0})),
        RunOptions(max_agents=2, exit_when_idle=True),
    )
    assert set(h.worker_order()) == {"run"}
    statuses = h.wo_statuses()
    assert all(statuses[w] == "ready" or statuses[w] == "backlog" for w in paused)
    assert h.store.get_track("run").status == "completed"
    assert h.store.get_track("zero").status == "active"
    h.assert_nothing_live()


async def test_global_agent_cannot_name_a_work_order(home: Path, tmp_path: Path) -> None:
    """The global agent's tools refuse WO ids, and its payload holds none."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    wos = h.add_track("p", "t", 2)

    def sneaky(spec: SessionSpec) -> list[Step]:
        return [
            CallTool(
                "set_track_priorities",
                {"weights": [{"track_id": "t", "weight": 9}], "reason": f"do {wos[0]} first"},
            ),
            CallTool(
                "set_track_budget", {"budgets": [{"track_id": wos[1], "usd": 1}], "reason": "x"}
            ),
            Finish(),
        ]

    _, runtime = await run_fake(h, by_role(global_=sneaky))
    global_calls = [c for c in runtime.tool_calls if c.role is Role.GLOBAL]
    assert global_calls and all(not c.reply.ok for c in global_calls)
    assert all("no work order ids" in c.reply.text for c in global_calls)
    assert h.store.latest_directive() is None
    for spec in runtime.specs:
        if spec.role is Role.GLOBAL:
            assert not WO_ID_IN_TEXT_RE.search(spec.user_prompt), spec.user_prompt
    # The failed decision does not stop the work.
    assert all(s == "done" for s in h.wo_statuses().values())


async def test_project_agent_sees_only_its_track_and_project(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("one", tmp_path / "one")
    h.add_project("two", tmp_path / "two")
    mine = h.add_track("one", "mine", 3)
    theirs = h.add_track("two", "theirs", 3)
    report, runtime = await run_fake(h, by_role())
    project_specs = [s for s in runtime.specs if s.role is Role.PROJECT]
    assert {payload_of(s)["track"]["id"] for s in project_specs} == {"mine", "theirs"}
    for spec in project_specs:
        payload = payload_of(spec)
        own, other = (mine, theirs) if payload["project"] == "one" else (theirs, mine)
        assert {w["id"] for w in payload["ready_work_orders"]} <= set(own)
        assert not set(WO_ID_IN_TEXT_RE.findall(spec.user_prompt + spec.system_prompt)) & set(other)
    assert all(s == "done" for s in h.wo_statuses().values())
    assert report.summary["work_orders"]["done"] == 6


async def test_project_agent_cannot_queue_another_tracks_wo(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    # Three WOs each: the first starts by priority, the agent chooses among the other two.
    a = h.add_track("p", "a", 3)
    b = h.add_track("p", "b", 3)

    def greedy(spec: SessionSpec) -> list[Step]:
        payload = payload_of(spec)
        other = b if payload["track"]["id"] == "a" else a
        return [
            CallTool(
                "choose_work_orders",
                {"track_id": payload["track"]["id"], "wo_ids": other[:1], "reason": "grab"},
            ),
            *choose_all(spec),
        ]

    _, runtime = await run_fake(h, by_role(project=greedy))
    grabs = [c for c in runtime.tool_calls if c.role is Role.PROJECT and not c.reply.ok]
    assert len(grabs) == 2 and all("not startable" in c.reply.text for c in grabs)
    for run in h.runs("worker"):
        assert run.wo_id in (a if run.track_id == "a" else b)
    h.assert_nothing_live()


async def test_directive_is_shown_by_orch_status(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "t", 1)
    await run_fake(h, by_role(global_=set_weights({"t": 2.0})))
    status = OrchRunner(home).json("status")
    assert status["directive"] == {"weights": {"t": 2.0}, "reason": "test weights"}
    assert status["daemon"]["running"] is False
    text = OrchRunner(home).ok("status").out
    assert "test weights" in text


async def test_hanging_global_agent_is_ended_at_a_budget_stop(home: Path, tmp_path: Path) -> None:
    """A global round that never ends holds a share of the budget, not a slot; at the stop
    the round is ended too and its run settled."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "t", 5)

    def costly(spec: SessionSpec) -> list[Step]:
        # $0.30 a WO: five cost more than the $1 the round's share leaves.
        return [Spend(0.15), Spend(0.15), *simple_worker(spec)]

    # The round holds about a third of the $1 whichever is granted first, the round or the
    # first worker; the rest pays for one to three WOs, then nothing is left: a budget stop.
    report, _ = await run_fake(
        h,
        by_role(global_=lambda spec: [Hang()], worker=costly),
        RunOptions(max_agents=2, budget_usd=1.0),
    )
    assert report.summary["stop_reason"].startswith("budget")
    assert 1 <= report.summary["work_orders"]["done"] < 5
    (global_run,) = h.runs("global")
    assert global_run.status == "interrupted"
    h.assert_nothing_live()


async def test_track_budget_from_the_global_agent_is_enforced(home: Path, tmp_path: Path) -> None:
    """set_track_budget: a track that spent its budget gets no more slots; others go on."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "capped", 5)
    h.add_track("p", "free", 3)

    def budgets(spec: SessionSpec) -> list[Step]:
        return [
            CallTool(
                "set_track_budget",
                {"budgets": [{"track_id": "capped", "usd": 0.025}], "reason": "cap it"},
            ),
            *set_weights({})(spec),
        ]

    report, _ = await run_fake(h, by_role(global_=budgets))
    # Workers cost 0.01 each: the capped track stops after the run that reaches $0.025.
    capped = [r for r in h.runs("worker") if r.track_id == "capped"]
    assert len(capped) == 3
    assert h.store.get_track("capped").budget_usd == 0.025
    assert h.store.get_track("free").status == "completed"
    assert report.summary["work_orders"]["done"] == 3 + 3
    h.assert_nothing_live()


async def test_project_agent_creates_work_and_reports_progress(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    # Three WOs: the first starts by priority, the agent is asked about the other two.
    wos = h.add_track("p", "t", 3)
    created: list[str] = []

    def planner(spec: SessionSpec) -> list[Step]:
        payload = payload_of(spec)
        steps: list[Step] = []
        if not created:
            created.append("yes")
            # The same rules as `orch wo add`: escape codes and overlong titles are refused.
            steps.append(CallTool("create_work_order", {"title": "evil\x1b[31m", "goal": "tidy"}))
            steps.append(CallTool("create_work_order", {"title": "t" * 201, "goal": "tidy"}))
            steps.append(
                CallTool(
                    "create_work_order",
                    {"title": "Follow-up found while planning", "goal": "tidy", "priority": 1},
                )
            )
        steps.append(
            CallTool(
                "report_track_progress",
                {"track_id": payload["track"]["id"], "summary": "half way"},
            )
        )
        return [*steps, *choose_all(spec)]

    _, runtime = await run_fake(
        h, by_role(project=planner), RunOptions(max_agents=1, exit_when_idle=True)
    )
    calls = {c.tool: c.reply for c in runtime.tool_calls if c.role is Role.PROJECT}
    refused = [
        c.reply.text for c in runtime.tool_calls if c.tool == "create_work_order" and not c.reply.ok
    ]
    assert len(refused) == 2, refused
    assert "control characters" in refused[0] and "title is too long" in refused[1]
    assert calls["create_work_order"].ok, calls
    new = calls["create_work_order"].text.removeprefix("created ")
    assert new not in wos
    # The new WO joined the track, ran there, and the track completed only after it.
    track_wos = {w["id"]: w for w in h.store.list_work_orders(track="t")}
    assert set(track_wos) == {*wos, new}
    assert track_wos[new]["status"] == "done"
    assert h.store.get_track("t").status == "completed"
    progress = h.events("track_progress")
    assert progress and progress[0].data["summary"] == "half way"
    h.assert_nothing_live()


async def test_the_next_queue_is_chosen_while_a_wo_runs(home: Path, tmp_path: Path) -> None:
    """A project agent that queues one WO at a time is asked for the next one while that
    WO runs, not between it and the next start (the slot never waits for a decision)."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    ids = h.add_track("p", "a", 4)

    def one_at_a_time(spec: SessionSpec) -> list[Step]:
        payload = payload_of(spec)
        first = payload["ready_work_orders"][0]["id"]
        return [
            CallTool(
                "choose_work_orders",
                {"track_id": payload["track"]["id"], "wo_ids": [first], "reason": "one"},
            ),
            Finish(),
        ]

    def decided(count: int) -> bool:
        return sum(r.ended_at is not None for r in h.runs("project")) >= count

    def waits_for_its_decision(spec: SessionSpec) -> list[Step]:
        # The k-th WO (k = 1, 2) ends only once the k-th decision has: however slow the
        # machine, the decision never arrives after the step that needs it.
        k = ids.index(payload_of(spec)["wo"]["id"]) + 1
        wait = [WaitUntil(lambda: decided(k))] if k <= 2 else []
        return [*wait, *simple_worker(spec)]

    await run_fake(
        h,
        by_role(worker=waits_for_its_decision, project=one_at_a_time),
        RunOptions(max_agents=1, exit_when_idle=True),
    )
    assert all(h.wo(wo).status == "done" for wo in ids)
    workers, deciders = h.runs("worker"), h.runs("project")
    # The first WO is the most important one (no decision before it); then 3 and 2 WOs to
    # choose from; the last one is no choice.
    assert len(deciders) == 2
    # The k-th decision starts before the k-th WO's worker has ended (it ran beside it).
    for decider, worker in zip(deciders, workers, strict=False):
        assert worker.ended_at is not None and decider.started_at < worker.ended_at
    h.assert_nothing_live()


async def test_a_hanging_global_agent_holds_no_slot(home: Path, tmp_path: Path) -> None:
    """With one slot and a global round that never ends, every WO still runs: the round
    runs beside the slot. Once nothing is left the run stops and ends the round."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    ids = h.add_track("p", "t", 3)
    report, _ = await run_fake(
        h, by_role(global_=lambda spec: [Hang()]), RunOptions(max_agents=1, exit_when_idle=True)
    )
    assert all(h.wo(wo).status == "done" for wo in ids)
    assert report.summary["stop_reason"].startswith("idle")
    rounds = h.runs("global")
    assert rounds and all(r.status == "interrupted" for r in rounds)
    h.assert_nothing_live()


async def test_a_hanging_project_agent_holds_no_slot(home: Path, tmp_path: Path) -> None:
    """With one slot and a project agent that never ends, the track's WOs run one after
    another by priority: no step waits for the decision, and none starts a second one
    for the track while it lasts."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    ids = [
        h.store.add_work_order("p", WorkOrder(id="", title=f"task {n}", priority=p)).id
        for n, p in enumerate((3, 3, 1, 3))
    ]
    h.store.create_track("p", "t", "feature", goal="t goal")
    h.store.assign("t", ids)
    h.store.set_track_status("t", TrackStatus.READY)
    await run_fake(
        h, by_role(project=lambda spec: [Hang()]), RunOptions(max_agents=1, exit_when_idle=True)
    )
    assert all(h.wo(wo).status == "done" for wo in ids)
    assert [w.wo_id for w in h.runs("worker")] == [ids[2], ids[0], ids[1], ids[3]]
    (decider,) = h.runs("project")
    assert decider.status == "interrupted"
    h.assert_nothing_live()


async def test_no_global_round_when_nothing_is_left_to_weigh(home: Path, tmp_path: Path) -> None:
    """When the last track with work finishes, a track left waiting (its WO depends on one
    no track has) gives the global agent nothing to weigh: no round is run for it."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    ids = h.add_track("p", "a", 2)
    outside = h.store.add_work_order("p", WorkOrder(id="", title="in no track"))
    waiting = h.store.add_work_order("p", WorkOrder(id="", title="waits", depends_on=(outside.id,)))
    h.store.create_track("p", "b", "feature")
    h.store.assign("b", [waiting.id])
    h.store.set_track_status("b", TrackStatus.READY)
    h.store.set_track_status("b", TrackStatus.ACTIVE)
    await run_fake(h, by_role(), RunOptions(max_agents=2, exit_when_idle=True))
    assert all(h.wo(wo).status == "done" for wo in ids)
    assert h.store.get_track("a").status == "completed"
    last_work = max(w.ended_at for w in h.runs("worker") if w.ended_at is not None)
    rounds = h.runs("global")
    assert rounds and all(r.started_at < last_work for r in rounds), rounds


async def test_decision_sessions_get_the_decision_model_and_few_turns(
    home: Path, tmp_path: Path
) -> None:
    """``model.decision_model`` and ``limits.decision_max_turns`` reach the global and
    project agents' sessions; workers keep ``model.model`` and ``limits.max_turns``."""
    h = open_home(home)
    replace_settings(h, "model", model="big-model", decision_model="small-model")
    replace_settings(h, "limits", max_turns=40, decision_max_turns=4)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "t", 3)
    _, runtime = await run_fake(h, by_role())
    by_role_seen = {(s.role, s.model, s.limits.max_turns) for s in runtime.specs}
    assert by_role_seen == {
        (Role.GLOBAL, "small-model", 4),
        (Role.PROJECT, "small-model", 4),
        (Role.WORKER, "big-model", 40),
    }, by_role_seen


async def test_tracks_that_move_on_ask_no_new_global_round(home: Path, tmp_path: Path) -> None:
    """Tracks becoming active and finishing change nothing the global agent has not weighed:
    one round at the start covers a night of three tracks run one after another."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    ids = [wo for name in ("a", "b", "c") for wo in h.add_track("p", name, 1)]
    await run_fake(h, by_role(), RunOptions(max_agents=1, exit_when_idle=True))
    assert all(h.wo(wo).status == "done" for wo in ids)
    assert [r.status for r in h.runs("global")] == ["succeeded"]
    assert all(h.store.get_track(t).status == "completed" for t in ("a", "b", "c"))
    h.assert_nothing_live()


async def test_a_blocked_track_still_asks_a_global_round(home: Path, tmp_path: Path) -> None:
    """A track that blocks is news to the global agent while another track can still run:
    a round follows the block (and none follows the other track's routine finish)."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    h.add_track("p", "bad", ["Always breaks"])
    good = h.add_track("p", "good", 5)

    def breaks(spec: SessionSpec) -> list[Step]:
        if payload_of(spec)["wo"]["title"] != "Always breaks":
            return simple_worker(spec)
        return [CallTool("report_result", {"status": "failed", "summary": "no"}), Finish()]

    await run_fake(h, by_role(worker=breaks), RunOptions(max_agents=1, exit_when_idle=True))
    assert h.store.get_track("bad").status == "paused"
    assert all(h.wo(wo).status == "done" for wo in good)
    rounds = h.runs("global")
    assert len(rounds) == 2, rounds
    failed = [w for w in h.runs("worker") if w.status == "failed"]
    assert len(failed) == 3 and all(w.ended_at is not None for w in failed)
    assert rounds[1].started_at >= max(w.ended_at for w in failed if w.ended_at)
    h.assert_nothing_live()


async def test_a_queue_is_chosen_again_when_the_ready_set_changes(
    home: Path, tmp_path: Path
) -> None:
    """A WO that becomes startable after the project agent chose the track's queue (here an
    urgent one added while the queue runs) is news: the agent chooses again, offered it,
    while the next WO runs, rather than only once the old queue has run out."""
    h = open_home(home)
    h.add_project("p", tmp_path / "repo")
    ids = h.add_track("p", "a", 4)
    added: list[str] = []

    def adds_urgent_work(spec: SessionSpec) -> list[Step]:
        wo_id = payload_of(spec)["wo"]["id"]
        if wo_id == ids[0]:
            # The first decision lands before the next step, however slow the machine.
            done = [WaitUntil(lambda: any(r.ended_at for r in h.runs("project")))]
            return [*done, *simple_worker(spec)]
        if wo_id == ids[1] and not added:
            urgent = h.store.add_work_order("p", WorkOrder(id="", title="urgent", priority=1))
            h.store.assign("a", [urgent.id])
            added.append(urgent.id)
        return simple_worker(spec)

    _, runtime = await run_fake(
        h, by_role(worker=adds_urgent_work), RunOptions(max_agents=1, exit_when_idle=True)
    )
    assert added and all(h.wo(wo).status == "done" for wo in [*ids, *added])
    deciders = h.runs("project")
    assert len(deciders) == 2, deciders
    offered = [
        [w["id"] for w in payload_of(spec)["ready_work_orders"]]
        for spec in runtime.specs
        if spec.role is Role.PROJECT
    ]
    assert offered[0] == ids[1:] and added[0] in offered[1]
    h.assert_nothing_live()
