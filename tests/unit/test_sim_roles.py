"""Each simulated role's state machine, driven on hand-built message histories (no CLI, no HTTP).

``drive`` plays the CLI: it asks the simulator for a turn, "runs" the requested tools with a
scripted executor, appends the tool results and asks again, until the turn ends.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.payload import render_payload, role_line
from orchestrator.domain.roles import Role, allowed_tools
from orchestrator.domain.tool_contracts import TOOL_SCHEMAS
from orchestrator.sim import parse_request, respond
from orchestrator.sim.reply import build_message

Executor = Callable[[str, dict[str, Any]], tuple[str, bool]]
WORKTREE = "/work/wt"


def first_request(
    role: Role | None, payload: dict[str, Any] | None, tools: list[str] | None = None
) -> dict[str, Any]:
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=0;"},
        {"type": "text", "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK."},
    ]
    if role is not None:
        system.append({"type": "text", "text": f"{role_line(role)}\nYou act for the daemon."})
    prompt = "Do your job." + (f"\n{render_payload(payload)}" if payload is not None else "")
    reminder = (
        "<system-reminder>\n# Environment\n - Primary working directory: "
        f"{WORKTREE}\n</system-reminder>"
    )
    names = tools if tools is not None else (allowed_tools(role) if role else [])
    return {
        "model": "claude-sonnet-4-5",
        "system": system,
        "tools": [{"name": n, "description": n, "input_schema": {}} for n in names],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": reminder}, {"type": "text", "text": prompt}],
            }
        ],
        "stream": True,
    }


def turn(body: dict[str, Any]) -> dict[str, Any]:
    """One simulated assistant message for a request body."""
    conv = parse_request(body)
    return build_message(
        respond(conv),
        model=conv.model,
        message_id="msg_t",
        salt=str(len(body["messages"])),
        input_count=1,
    )


def drive(body: dict[str, Any], execute: Executor, max_turns: int = 12) -> list[dict[str, Any]]:
    """Run the conversation to its end; returns the assistant messages."""
    answers: list[dict[str, Any]] = []
    for _ in range(max_turns):
        message = turn(body)
        answers.append(message)
        body["messages"].append({"role": "assistant", "content": message["content"]})
        if message["stop_reason"] == "end_turn":
            return answers
        results = []
        for block in message["content"]:
            if block["type"] != "tool_use":
                continue
            assert block["name"] in {t["name"] for t in body["tools"]}, "called a tool not offered"
            text, is_error = execute(block["name"], block["input"])
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": block["id"],
                "content": text,
            }
            if is_error:
                result["is_error"] = True
            results.append(result)
        body["messages"].append({"role": "user", "content": results})
    raise AssertionError("the conversation did not end")


def calls(answers: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (b["name"], b["input"]) for m in answers for b in m["content"] if b["type"] == "tool_use"
    ]


def final_text(answers: list[dict[str, Any]]) -> str:
    return "".join(b["text"] for b in answers[-1]["content"] if b["type"] == "text")


def ok_executor(overrides: dict[str, tuple[str, bool]] | None = None) -> Executor:
    def execute(name: str, tool_input: dict[str, Any]) -> tuple[str, bool]:
        if overrides and name in overrides:
            return overrides[name]
        return f"{name} ok", False

    return execute


def matches_schema(tool: str, value: dict[str, Any]) -> bool:
    """A light check of required keys and enums (the CLI validates fully)."""
    schema = TOOL_SCHEMAS[tool]
    if not set(schema["required"]) <= set(value):
        return False
    status = schema["properties"].get("status", {})
    return "enum" not in status or value.get("status") in status["enum"]


# -- worker -------------------------------------------------------------------------------------


def work_order(**extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "work_order",
        "wo": {"id": "WO-2025-007", "title": 'Add "greeting"', "goal": "Say hello"},
        "track": {"id": "greetings", "name": "Greetings", "goal": "Be polite"},
        "worktree": WORKTREE,
        "check_command": "python -m pytest -q",
        "attempt": 1,
        "previous_failure": None,
        "recovery": None,
    }
    payload.update(extra)
    return payload


def test_worker_writes_checks_reports_then_ends() -> None:
    answers = drive(first_request(Role.WORKER, work_order()), ok_executor())
    made = calls(answers)
    assert [n for n, _ in made] == ["Write", "Write", "Bash", "mcp__orch__report_result"]
    # Both files in one turn: parallel tool calls, as a model would make them.
    assert [b["name"] for b in answers[0]["content"]] == ["Write", "Write"]
    paths = [i["file_path"] for n, i in made if n == "Write"]
    assert paths == [f"{WORKTREE}/wo/wo_2025_007.py", f"{WORKTREE}/tests/test_wo_2025_007.py"]
    assert made[2][1]["command"] == "python -m pytest -q"
    report = made[3][1]
    assert report["status"] == "done"
    assert report["files_changed"] == ["wo/wo_2025_007.py", "tests/test_wo_2025_007.py"]
    assert matches_schema("report_result", report)
    assert answers[-1]["stop_reason"] == "end_turn"
    assert "WO-2025-007" in final_text(answers)


def test_worker_files_pass_pytest(tmp_path: Path) -> None:
    """The files the worker writes are real code whose test passes."""
    payload = work_order(worktree=str(tmp_path))
    answers = drive(first_request(Role.WORKER, payload), ok_executor())
    for name, tool_input in calls(answers):
        if name == "Write":
            path = Path(tool_input["file_path"])
            assert path.is_relative_to(tmp_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tool_input["content"])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_worker_denied_write_reports_failed() -> None:
    denied = ("Permission to use Write has been denied.", True)
    answers = drive(first_request(Role.WORKER, work_order()), ok_executor({"Write": denied}))
    made = calls(answers)
    assert "Bash" not in [n for n, _ in made]
    report = made[-1][1]
    assert made[-1][0] == "mcp__orch__report_result"
    assert report["status"] == "failed"
    assert "denied" in report["summary"]
    assert report["files_changed"] == []


def test_worker_failing_check_reports_failed() -> None:
    failing = ("Exit code 1\nFAILED tests/test_x.py::test_y", True)
    answers = drive(first_request(Role.WORKER, work_order()), ok_executor({"Bash": failing}))
    report = calls(answers)[-1][1]
    assert report["status"] == "failed"
    assert "Exit code 1" in report["summary"]


def test_worker_reads_then_rewrites_a_file_it_has_not_read() -> None:
    state = {"writes": 0}

    def execute(name: str, tool_input: dict[str, Any]) -> tuple[str, bool]:
        if name == "Write":
            state["writes"] += 1
            if state["writes"] == 1:
                return (
                    "<tool_use_error>File has not been read yet. Read it first.</tool_use_error>",
                    True,
                )
        return "ok", False

    made = calls(drive(first_request(Role.WORKER, work_order()), execute))
    names = [n for n, _ in made]
    assert names[:4] == ["Write", "Write", "Read", "Write"]
    assert made[2][1]["file_path"] == made[0][1]["file_path"] == made[3][1]["file_path"]
    assert made[-1][1]["status"] == "done"


def test_worker_after_a_failed_attempt_reads_first() -> None:
    payload = work_order(attempt=2, previous_failure="check failed")
    made = calls(drive(first_request(Role.WORKER, payload), ok_executor()))
    assert [n for n, _ in made] == [
        "Read",
        "Read",
        "Write",
        "Write",
        "Bash",
        "mcp__orch__report_result",
    ]


def test_worker_without_check_command_skips_bash() -> None:
    made = calls(drive(first_request(Role.WORKER, work_order(check_command=None)), ok_executor()))
    assert [n for n, _ in made] == ["Write", "Write", "mcp__orch__report_result"]
    assert made[-1][1]["status"] == "done"


def test_worker_without_report_tool_answers_in_text() -> None:
    body = first_request(Role.WORKER, work_order(), tools=["Read", "Write", "Bash"])
    answers = drive(body, ok_executor())
    assert "mcp__orch__report_result" not in [n for n, _ in calls(answers)]
    assert "done" in final_text(answers)


def test_worker_loads_a_deferred_report_tool_with_toolsearch() -> None:
    body = first_request(Role.WORKER, work_order(), tools=["Read", "Write", "Bash", "ToolSearch"])
    body["messages"][0]["content"].insert(
        0,
        {
            "type": "text",
            "text": "<system-reminder>\nThe following deferred tools are now available via "
            "ToolSearch.\nWebFetch\nmcp__orch__report_result\n</system-reminder>",
        },
    )

    def execute(name: str, tool_input: dict[str, Any]) -> tuple[str, bool]:
        if name == "ToolSearch":
            body["tools"].append({"name": "mcp__orch__report_result", "input_schema": {}})
        return "ok", False

    made = calls(drive(body, execute))
    assert [n for n, _ in made][-2:] == ["ToolSearch", "mcp__orch__report_result"]
    assert made[-2][1]["query"] == "select:mcp__orch__report_result"


def test_worker_retries_a_rejected_report_once() -> None:
    rejected = ("Input validation error", True)
    answers = drive(
        first_request(Role.WORKER, work_order()),
        ok_executor({"mcp__orch__report_result": rejected}),
    )
    names = [n for n, _ in calls(answers)]
    assert names.count("mcp__orch__report_result") == 2
    assert "rejected" in final_text(answers)


def test_worker_resumed_after_its_writes_continues_with_the_check() -> None:
    body = first_request(Role.WORKER, work_order())
    first = turn(body)
    body["messages"].append({"role": "assistant", "content": first["content"]})
    body["messages"].append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": b["id"], "content": "File created"}
                for b in first["content"]
            ],
        }
    )
    # The session was interrupted here; the runtime resumes it with a new prompt.
    body["messages"].append({"role": "user", "content": "[Request interrupted by user]"})
    body["messages"].append({"role": "user", "content": "Continue where you left off."})
    made = calls(drive(body, ok_executor()))
    assert [n for n, _ in made] == ["Bash", "mcp__orch__report_result"]


def test_worker_resumed_after_its_report_checks_and_reports_again() -> None:
    body = first_request(Role.WORKER, work_order())
    drive(body, ok_executor())
    body["messages"].append({"role": "user", "content": "You were restarted; confirm your result."})
    made = calls(drive(body, ok_executor()))
    assert [n for n, _ in made] == ["Bash", "mcp__orch__report_result"]


def test_worker_without_a_worktree_says_so() -> None:
    body = first_request(Role.WORKER, work_order(worktree=None))
    body["messages"][0]["content"].pop(0)  # no environment reminder either
    answers = drive(body, ok_executor())
    assert calls(answers) == []
    assert "worktree" in final_text(answers)


# -- global ---------------------------------------------------------------------------------------


def overview() -> dict[str, Any]:
    def track(track_id: str, priority: int, status: str = "active", **extra: Any) -> dict[str, Any]:
        return {
            "id": track_id,
            "project": "demo",
            "name": track_id,
            "type": "feature",
            "status": status,
            "priority": priority,
            "weight": 1,
            "done": 0,
            "total": 3,
            "blocked_reason": extra.get("blocked_reason"),
            "cost_usd": 0.0,
        }

    return {
        "kind": "tracks_overview",
        "tracks": [
            track("auth", 1),
            track("ui", 2),
            track("docs", 5),
            track("perf", 1, status="paused"),
            track("infra", 1, blocked_reason="waiting for WO-2025-009"),
        ],
        "budget_usd": 10.0,
    }


def test_global_weights_follow_priority_and_zero_idle_tracks() -> None:
    answers = drive(first_request(Role.GLOBAL, overview()), ok_executor())
    ((name, tool_input),) = calls(answers)
    assert name == "mcp__orch__set_track_priorities"
    weights = {w["track_id"]: w["weight"] for w in tool_input["weights"]}
    assert weights == {"auth": 5, "ui": 4, "docs": 1, "perf": 0, "infra": 0}
    assert matches_schema("set_track_priorities", tool_input)
    assert not re.search(r"WO-\d{4}-\d+", json.dumps(tool_input)), "the global agent saw a WO id"
    assert answers[-1]["stop_reason"] == "end_turn"


def test_global_without_its_tool_answers_in_text() -> None:
    answers = drive(first_request(Role.GLOBAL, overview(), tools=[]), ok_executor())
    assert calls(answers) == []
    assert "not available" in final_text(answers)


# -- project --------------------------------------------------------------------------------------


def choose_next(ready: list[dict[str, Any]], queue_size: int = 2) -> dict[str, Any]:
    return {
        "kind": "choose_next",
        "project": "demo",
        "directive": {"weights": {"auth": 5}, "reason": "auth first"},
        "track": {"id": "auth", "name": "Auth", "goal": "Log in"},
        "ready_work_orders": ready,
        "queue_size": queue_size,
    }


def wo(wo_id: str, priority: int, depends_on: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": wo_id,
        "title": wo_id,
        "priority": priority,
        "tags": [],
        "depends_on": list(depends_on),
    }


def test_project_queues_by_priority_then_id() -> None:
    ready = [wo("WO-2025-004", 2), wo("WO-2025-003", 1), wo("WO-2025-001", 2), wo("WO-2025-002", 1)]
    ((name, tool_input),) = calls(
        drive(first_request(Role.PROJECT, choose_next(ready, 3)), ok_executor())
    )
    assert name == "mcp__orch__choose_work_orders"
    assert tool_input["track_id"] == "auth"
    assert tool_input["wo_ids"] == ["WO-2025-002", "WO-2025-003", "WO-2025-001"]
    assert matches_schema("choose_work_orders", tool_input)


def test_project_puts_a_dependency_first() -> None:
    ready = [wo("WO-2025-001", 1, depends_on=("WO-2025-002",)), wo("WO-2025-002", 3)]
    ((_, tool_input),) = calls(
        drive(first_request(Role.PROJECT, choose_next(ready)), ok_executor())
    )
    assert tool_input["wo_ids"] == ["WO-2025-002", "WO-2025-001"]


def test_project_drops_a_rejected_id_and_tries_once_more() -> None:
    ready = [wo("WO-2025-001", 1), wo("WO-2025-002", 2)]
    attempts: list[list[str]] = []

    def execute(name: str, tool_input: dict[str, Any]) -> tuple[str, bool]:
        attempts.append(tool_input["wo_ids"])
        if "WO-2025-001" in tool_input["wo_ids"]:
            return "WO-2025-001 is not ready", True
        return "queued", False

    drive(first_request(Role.PROJECT, choose_next(ready)), execute)
    assert attempts == [["WO-2025-001", "WO-2025-002"], ["WO-2025-002"]]


def test_project_with_nothing_ready_answers_in_text() -> None:
    answers = drive(first_request(Role.PROJECT, choose_next([])), ok_executor())
    assert calls(answers) == []
    assert "no ready" in final_text(answers)


# -- organizer ------------------------------------------------------------------------------------

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def organize(
    mode: str, wos: list[dict[str, Any]], tracks: list[dict[str, Any]] | None = None, limit: int = 8
) -> dict[str, Any]:
    return {
        "kind": "organize",
        "mode": mode,
        "project": "demo",
        "max_top_level_tracks": limit,
        "tracks": tracks or [],
        "work_orders": wos,
    }


def tagged(wo_id: str, *tags: str, tracks: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": wo_id,
        "title": wo_id,
        "tags": list(tags),
        "status": "backlog",
        "depends_on": [],
        "tracks": list(tracks),
    }


def test_organizer_initial_groups_by_first_tag_within_the_limit() -> None:
    wos = [
        tagged(f"WO-2025-{n:03d}", tag)
        for n, tag in enumerate(
            ["api", "api", "api", "ui", "ui", "Docs", "perf", "sec", "misc one", "db"], start=1
        )
    ]
    wos.append(tagged("WO-2025-099"))  # untagged
    ((name, proposal),) = calls(
        drive(first_request(Role.ORGANIZER, organize("initial", wos, limit=4)), ok_executor())
    )
    assert name == "mcp__orch__propose_tracks"
    keys = [t["key"] for t in proposal["tracks"]]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert all(SLUG.match(k) for k in keys)
    assert keys[:2] == ["api", "ui"]
    assigned = {a["wo_id"]: a["tracks"] for a in proposal["assignments"]}
    assert set(assigned) == {w["id"] for w in wos}
    assert all(t[0] in keys for t in assigned.values())
    assert proposal["recommendations"], "the merge is explained"
    assert matches_schema("propose_tracks", proposal)


def test_organizer_incremental_places_only_unassigned_wos() -> None:
    tracks = [
        {"id": "trk-api", "name": "API", "goal": "Public HTTP API", "parent": None, "wo_count": 3},
        {
            "id": "trk-ui",
            "name": "Frontend",
            "goal": "The ui screens",
            "parent": None,
            "wo_count": 1,
        },
    ]
    wos = [
        tagged("WO-2025-001", "api", tracks=("trk-api",)),
        tagged("WO-2025-002", "api"),
        tagged("WO-2025-003", "ui"),
        tagged("WO-2025-004", "billing"),
    ]
    ((_, proposal),) = calls(
        drive(first_request(Role.ORGANIZER, organize("incremental", wos, tracks)), ok_executor())
    )
    assigned = {a["wo_id"]: a["tracks"] for a in proposal["assignments"]}
    assert assigned == {
        "WO-2025-002": ["trk-api"],
        "WO-2025-003": ["trk-ui"],
        "WO-2025-004": ["billing"],
    }
    assert [t["key"] for t in proposal["tracks"]] == ["billing"]


def test_organizer_incremental_over_the_limit_proposes_a_sub_track() -> None:
    tracks = [
        {"id": "a", "name": "A", "goal": "", "parent": None, "wo_count": 1},
        {"id": "b", "name": "B", "goal": "", "parent": None, "wo_count": 5},
    ]
    wos = [tagged("WO-2025-001", "billing")]
    ((_, proposal),) = calls(
        drive(
            first_request(Role.ORGANIZER, organize("incremental", wos, tracks, limit=2)),
            ok_executor(),
        )
    )
    assert proposal["tracks"][0]["parent"] == "b"


def test_organizer_corrects_itself_once_after_a_rejection() -> None:
    wos = [tagged(f"WO-2025-{n:03d}", f"tag{n}") for n in range(1, 7)]
    seen: list[int] = []

    def execute(name: str, tool_input: dict[str, Any]) -> tuple[str, bool]:
        seen.append(len(tool_input["tracks"]))
        if len(tool_input["tracks"]) > 3:
            return "at most 3 top-level tracks are allowed", True
        return "proposal stored", False

    answers = drive(first_request(Role.ORGANIZER, organize("initial", wos, limit=8)), execute)
    assert seen == [6, 3]
    assert answers[-1]["stop_reason"] == "end_turn"


def test_organizer_gives_up_after_two_rejections() -> None:
    wos = [tagged("WO-2025-001", "x")]
    answers = drive(
        first_request(Role.ORGANIZER, organize("reorg", wos)),
        ok_executor({"mcp__orch__propose_tracks": ("no", True)}),
    )
    assert len(calls(answers)) == 2
    assert "rejected" in final_text(answers)


# -- judge, side requests -------------------------------------------------------------------------


def test_judge_picks_the_first_candidate_that_passed() -> None:
    payload = {
        "kind": "judge",
        "experiment": "exp-1",
        "hypothesis": {},
        "candidates": [
            {"track_id": "exp-a", "hypothesis": "a", "passed": False, "eval_output": "1 failed"},
            {"track_id": "exp-b", "hypothesis": "b", "passed": True, "eval_output": "ok"},
            {"track_id": "exp-c", "hypothesis": "c", "passed": True, "eval_output": "ok"},
        ],
    }
    ((name, tool_input),) = calls(drive(first_request(Role.JUDGE, payload), ok_executor()))
    assert name == "mcp__orch__pick_winner"
    assert tool_input["winner_track_id"] == "exp-b"
    assert matches_schema("pick_winner", tool_input)


def test_judge_without_a_passing_candidate_picks_none() -> None:
    payload = {
        "kind": "judge",
        "experiment": "e",
        "candidates": [
            {"track_id": "exp-a", "hypothesis": "a", "passed": False, "eval_output": ""}
        ],
    }
    answers = drive(first_request(Role.JUDGE, payload), ok_executor())
    assert calls(answers) == []


@pytest.mark.parametrize(
    ("role", "payload", "expected"),
    [
        (None, None, "OK."),
        (Role.WORKER, None, "no orchestrator payload"),
        (Role.WORKER, {"kind": "judge"}, "expect a 'work_order' payload"),
    ],
)
def test_requests_without_a_usable_role_payload_get_text(
    role: Role | None, payload: dict[str, Any] | None, expected: str
) -> None:
    answers = drive(first_request(role, payload), ok_executor())
    assert calls(answers) == []
    assert expected in final_text(answers)


def test_malformed_payload_gets_text() -> None:
    body = first_request(Role.PROJECT, None)
    body["messages"][0]["content"][-1]["text"] = "<orch-payload>\n{not json\n</orch-payload>"
    answers = drive(body, ok_executor())
    assert "malformed payload" in final_text(answers)
