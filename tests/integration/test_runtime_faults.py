"""Many sessions through the real CLI against a faulty simulator, retried by run_session."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.agents import (
    AgentEvent,
    ClaudeRuntime,
    Limits,
    RetryPolicy,
    SessionOutcome,
    SessionSpec,
    ToolReply,
    find_agent_processes,
    run_session,
    system_prompt,
    user_prompt,
)
from orchestrator.domain.roles import Role
from orchestrator.sim import SimServer, sim_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SESSIONS = 20
PARALLEL = 4
#: 30% of model requests fail with 429 or 529, 5% of streams are cut.
FAULTS = "429:0.15,529:0.15,cut:0.05"
POLICY = RetryPolicy(
    max_attempts=8,
    initial_backoff_s=0.1,
    max_backoff_s=1.0,
    jitter_s=0.1,
    max_backoff_total_s=30,
    default_park_s=0.2,
    max_park_total_s=30,
)


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        self.calls.append((tool, args))
        return ToolReply(True, "recorded")


def payload(wo_id: str, worktree: Path) -> dict[str, Any]:
    return {
        "kind": "work_order",
        "wo": {
            "id": wo_id,
            "title": f"Work {wo_id}",
            "goal": "a module",
            "context": "",
            "acceptance_criteria": [],
            "non_goals": [],
            "notes": "",
        },
        "track": {"id": "TR-1", "name": "core", "goal": "g"},
        "worktree": str(worktree),
        "check_command": None,
        "attempt": 1,
        "previous_failure": None,
        "recovery": None,
    }


async def test_sessions_finish_through_faults_with_bounded_retries(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    owner = f"test-{uuid.uuid4().hex[:12]}"
    runtime = ClaudeRuntime(owner=owner, kill_grace_s=2.0)
    limiter = anyio.CapacityLimiter(PARALLEL)
    outcomes: dict[str, SessionOutcome] = {}
    handlers: dict[str, Handler] = {}
    concurrent = 0
    most_concurrent = 0

    async with SimServer(faults=FAULTS, seed=11) as sim:

        async def one(index: int) -> None:
            nonlocal concurrent, most_concurrent
            wo_id = f"WO-2025-{index:03d}"
            repo = make_repo(f"p{index}")
            handler = handlers[wo_id] = Handler()
            spec = SessionSpec(
                role=Role.WORKER,
                system_prompt=system_prompt(Role.WORKER),
                user_prompt=user_prompt(Role.WORKER, payload(wo_id, repo)),
                cwd=repo,
                tool_handler=handler,
                config_dir=tmp_path / "cfg" / wo_id,
                env=sim_env(sim.base_url),
                model="claude-sonnet-4-5",
                limits=Limits(wall_clock_s=120, idle_s=30),
                run_id=wo_id,
            )

            async def on_event(event: AgentEvent) -> None:
                return None

            async with limiter:
                concurrent += 1
                most_concurrent = max(most_concurrent, concurrent)
                try:
                    outcomes[wo_id] = await run_session(
                        runtime, spec, on_event=on_event, policy=POLICY
                    )
                finally:
                    concurrent -= 1

        with anyio.fail_after(500):
            async with anyio.create_task_group() as tg:
                for index in range(1, SESSIONS + 1):
                    tg.start_soon(one, index)
        stats = sim.stats()

    assert len(outcomes) == SESSIONS
    assert most_concurrent == PARALLEL
    faults = stats["faults"]
    assert sum(faults.values()) >= 5, faults  # the faults really happened
    retried = [o for o in outcomes.values() if o.attempts > 1]
    assert retried, "no session needed a retry"
    for wo_id, outcome in outcomes.items():
        assert outcome.result is not None and not outcome.result.is_error, wo_id
        assert 1 <= outcome.attempts <= 20, (wo_id, outcome.attempts)
        reports = [args for tool, args in handlers[wo_id].calls if tool == "report_result"]
        assert reports and reports[-1]["status"] == "done", (wo_id, reports)
    assert runtime.live_pids() == frozenset()
    assert find_agent_processes(owner) == []
