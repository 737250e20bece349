"""The daemon's side of experiments: each round, take the steps ``next_steps`` names.

The variants themselves are ordinary tracks (dispatch, claims, checkpoints and recovery
treat them like any other); this module starts them together from the recorded base
commit, evaluates each as its WOs are done, decides, lands the winner and cleans up the
losers. Evaluations run in the variant track's own cancel scope, so a stop drains them like
a worker; a decision that needs the judge runs as its own task. Every step is idempotent
and the state it reads is the DB's, so a crash at any moment is repaired by the next round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.experiment_eval import evaluate_variant
from orchestrator.daemon.experiment_judge import decide_auto
from orchestrator.daemon.experiment_landing import cleanup_variant, end, land
from orchestrator.daemon.ownership import Ownership
from orchestrator.daemon.workspace import activate_variant
from orchestrator.domain.errors import OrchestratorError
from orchestrator.domain.experiment import Experiment, ExperimentStatus
from orchestrator.domain.experiment_plan import (
    ACTIVATE,
    CLEANUP,
    DECIDE,
    DISQUALIFY,
    EVALUATE,
    FAIL,
    LAND,
    STATUS,
    Step,
    next_steps,
)

#: Immediate steps one experiment may take in one round (each re-reads the state).
MAX_STEPS_PER_ROUND = 12

Spawn = Callable[[str, Callable[[], Awaitable[None]]], bool]


@dataclass
class ExperimentPump:
    """Advances every experiment in play; ``spawn`` starts a long step as a task."""

    ctx: DaemonContext
    #: This host's track leases: a variant another host holds is evaluated there, in the
    #: worktree its workers left (None: every variant is this host's).
    ownership: Ownership | None = None
    #: Keys ("eval:<track>", "decide:<experiment>") of the long steps running now.
    running: set[str] = field(default_factory=set)

    async def round(self, spawn: Spawn | None = None) -> int:
        """One pass over the experiments in play; returns how many steps it took or started.

        Without ``spawn`` the long steps (evaluations, decisions) are awaited in place,
        as ``orch recover`` and the CLI need.
        """
        store = self.ctx.store
        experiments = await anyio.to_thread.run_sync(store.experiments_in_play)
        taken = 0
        for experiment in experiments:
            for _ in range(MAX_STEPS_PER_ROUND):
                try:
                    did = await self._advance(experiment, spawn)
                except OrchestratorError as exc:
                    self.ctx.log.error(
                        "experiment_step_failed", experiment=experiment.id, error=str(exc)
                    )
                    break
                if not did:
                    break
                taken += did
                experiment = await anyio.to_thread.run_sync(store.get_experiment, experiment.id)
        return taken

    async def _advance(self, experiment: Experiment, spawn: Spawn | None) -> int:
        store = self.ctx.store
        progress = await anyio.to_thread.run_sync(store.variant_progress, experiment)
        steps = next_steps(experiment, progress)
        did = 0
        for step in steps:
            if step.kind in (EVALUATE, DECIDE):
                did += await self._long(experiment, step, spawn)
            else:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._now, experiment, step)
                did += 1
        return did

    async def _long(self, experiment: Experiment, step: Step, spawn: Spawn | None) -> int:
        ctx = self.ctx
        key = f"eval:{step.track}" if step.kind == EVALUATE else f"decide:{experiment.id}"
        if key in self.running:
            return 0
        if step.kind == EVALUATE and not await self._ours(step.track or ""):
            return 0

        async def work() -> None:
            self.running.add(key)
            try:
                if step.kind == EVALUATE:
                    await evaluate_variant(ctx, experiment, step.track or "")
                else:
                    async with ctx.limiter:
                        await decide_auto(ctx, experiment)
            except OrchestratorError as exc:
                ctx.log.error("experiment_step_failed", experiment=experiment.id, error=str(exc))
            finally:
                self.running.discard(key)

        if spawn is None:
            await work()
            return 1
        return 1 if spawn(step.track or key if step.kind == EVALUATE else key, work) else 0

    async def _ours(self, track_id: str) -> bool:
        """Whether this host may evaluate the variant: its lease is free or this host's
        (taken now; a worktree another host left is rebuilt here first)."""
        if self.ownership is None:
            return True
        track = await anyio.to_thread.run_sync(self.ctx.store.get_track, track_id)
        return await self.ownership.take(track)

    def _now(self, experiment: Experiment, step: Step) -> None:
        """A short, synchronous step (run in a worker thread)."""
        ctx = self.ctx
        store = ctx.store
        log: Any = ctx.log
        if step.kind == ACTIVATE:
            activate_variant(store, ctx.settings.workspaces_dir, step.track or "")
        elif step.kind == DISQUALIFY:
            failed_work = step.reason.startswith("work order")
            store.disqualify_variant(
                step.track or "", step.reason, check_passed=False if failed_work else None
            )
            log.warning("variant_disqualified", track_id=step.track, reason=step.reason)
        elif step.kind == STATUS:
            store.set_experiment_status(
                experiment.id, ExperimentStatus(step.reason), "variants moved on"
            )
        elif step.kind == LAND:
            land(store, ctx.settings, experiment.id, log)
        elif step.kind == FAIL:
            end(store, ctx.settings, experiment.id, ExperimentStatus.FAILED, step.reason, log)
        elif step.kind == CLEANUP:
            cleanup_variant(store, step.track or "", f"experiment {experiment.id} ended")
