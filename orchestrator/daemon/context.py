"""What the daemon's parts share for one `orch run`: store, settings, runtime, identity, limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from orchestrator.agents.protocol import AgentRun, AgentRuntime
from orchestrator.config import Settings
from orchestrator.domain.budget import RunBudget
from orchestrator.store.contract import Store


@dataclass(frozen=True)
class RunOptions:
    """The limits of one `orch run` (flags over settings)."""

    until: datetime | None = None
    budget_usd: float | None = None
    max_agents: int = 4
    exit_when_idle: bool = False


@dataclass
class DaemonContext:
    settings: Settings
    store: Store
    runtime: AgentRuntime
    daemon_id: str
    options: RunOptions
    #: Environment for every CLI session (backend-specific: the simulator's URL and key).
    session_env: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    #: Live sessions by run id, so a stop can interrupt them.
    live: dict[str, AgentRun] = field(default_factory=dict)
    #: Set when the run must stop starting work (deadline, budget, signal, `orch stop`).
    stop_reason: str | None = None
    limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(4))
    log: Any = None
    #: The run's --budget shared among its sessions (None: no budget).
    budget: RunBudget | None = None
    #: Until then no new session starts (the usage limit is near: ``allowed_warning``).
    new_sessions_held_until: datetime | None = None
    #: The run's task group, for bookkeeping that finishes beside the next start (a WO's
    #: done checkpoint); None outside a supervisor's run (then it is done inline).
    aside: anyio.abc.TaskGroup | None = None

    def new_sessions_held(self, now: datetime | None = None) -> bool:
        until = self.new_sessions_held_until
        return until is not None and (now or datetime.now(UTC)) < until

    def config_dir(self, run_id: str) -> Path | None:
        """A CLAUDE_CONFIG_DIR per session with the simulator; the user's own with Claude."""
        if self.settings.model.backend != "sim":
            return None
        path = self.settings.state_dir / "claude-config" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path
