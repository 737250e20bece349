"""The decision of an automatic experiment, and the judge agent for close calls.

The rule (``domain.experiment_decision.decide``) always decides. Only when it reports a
close call (the medians lie within each other's spread) is the judge agent asked, with
structured input only (scores, raw runs, eval output, cost, diff stats; no file tools),
to pick among the candidates the measurement cannot separate. Its pick and reason are
recorded as the decision; if it fails or picks nothing valid, the rule's order stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from orchestrator.agents.protocol import ToolReply
from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.sessions import drive_session, make_spec
from orchestrator.domain.errors import AgentError
from orchestrator.domain.experiment import Experiment
from orchestrator.domain.experiment_decision import Decision, decide
from orchestrator.domain.lifecycle import RunStatus
from orchestrator.domain.roles import Role


def judge_payload(experiment: Experiment, decision: Decision) -> dict[str, Any]:
    close = set(decision.close)
    return {
        "kind": "judge",
        "experiment": experiment.id,
        "metric": experiment.metric,
        "direction": experiment.direction.value,
        "close_call": decision.close_call,
        "rule_pick": decision.winner,
        "candidates": [
            {
                "track_id": v.track_id,
                "hypothesis": v.hypothesis,
                "passed": v.score is not None,
                "score": v.score,
                "scores": v.scores,
                "min": v.score_min,
                "max": v.score_max,
                "cost_usd": round(v.cost_usd, 6),
                "lines_changed": v.lines_changed,
                "files_changed": v.files_changed,
                "eval_output": (v.runs[-1].output_tail[-1500:] if v.runs else ""),
            }
            for v in experiment.variants
            if v.track_id in close
        ],
    }


@dataclass
class JudgeTools:
    allowed: frozenset[str]
    pick: tuple[str, str] | None = None

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply:
        if tool != "pick_winner":
            return ToolReply(False, f"unknown tool {tool}")
        winner = str(args["winner_track_id"])
        if winner not in self.allowed:
            names = ", ".join(sorted(self.allowed))
            return ToolReply(False, f"{winner!r} is not a candidate; pick one of {names}")
        if self.pick is None:
            self.pick = (winner, str(args["reason"]).strip()[:2000])
        return ToolReply(True, "winner recorded; end your turn now")


async def ask_judge(
    ctx: DaemonContext, experiment: Experiment, decision: Decision
) -> tuple[str, str] | None:
    """The judge's (winner, reason) among the close candidates, or None."""
    store = ctx.store
    with anyio.CancelScope(shield=True):
        run = await anyio.to_thread.run_sync(
            lambda: store.start_run(Role.JUDGE, ctx.daemon_id, project_id=experiment.project_id)
        )
    tools = JudgeTools(frozenset(decision.close))
    spec = make_spec(
        ctx,
        run.id,
        Role.JUDGE,
        judge_payload(experiment, decision),
        ctx.settings.state_dir,
        tools,
        labels={"experiment": experiment.id},
    )
    status, error = RunStatus.FAILED, None
    try:
        outcome = await drive_session(ctx, run.id, spec)
        if outcome.interrupted:
            status = RunStatus.INTERRUPTED
        elif tools.pick is not None:
            status = RunStatus.SUCCEEDED
        else:
            error = "the judge ended without picking a winner"
    except AgentError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        with anyio.CancelScope(shield=True):
            # Failed without an error: cut off by a stop before it could end.
            final = RunStatus.INTERRUPTED if status is RunStatus.FAILED and not error else status
            await anyio.to_thread.run_sync(lambda: store.finish_run(run.id, final, error=error))
    if error is not None:
        ctx.log.warning("judge_failed", experiment=experiment.id, error=error)
    return tools.pick if status is RunStatus.SUCCEEDED else None


async def decide_auto(ctx: DaemonContext, experiment: Experiment) -> None:
    """Decide by the rule, asking the judge on a close call; commit the decision."""
    decision = decide(experiment.variants, experiment.direction, experiment.metric)
    if decision.winner is None:
        return
    winner, by, reason = decision.winner, "auto", decision.reason
    if decision.close and ctx.settings.experiments.judge_close_calls:
        picked = await ask_judge(ctx, experiment, decision)
        if picked is not None:
            winner, by = picked[0], "judge"
            reason = f"the judge picked {picked[0]} on a close call: {picked[1]}"
        else:
            reason = f"{decision.reason} (the judge gave no pick on the close call)"
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(
            lambda: ctx.store.decide_experiment(
                experiment.id, winner, by, reason, decision.close_call
            )
        )
    ctx.log.info("experiment_decided", experiment=experiment.id, winner=winner, by=by)
