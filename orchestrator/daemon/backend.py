"""The model backend of a command that starts agents: the user's Claude, or the simulator.

With ``sim`` the simulator runs in-process on a free loopback port for the duration of the
command, and every CLI session is pointed at it; with ``claude`` the CLI uses the user's own
login and nothing is overridden.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from orchestrator.agents.claude_runtime import ClaudeRuntime
from orchestrator.agents.environment import MODEL_ACCESS_ENV
from orchestrator.agents.protocol import AgentRuntime, SessionSpec
from orchestrator.config import Settings
from orchestrator.store.contract import Store


@dataclass
class Backend:
    runtime: AgentRuntime
    session_env: dict[str, str]
    sim_url: str | None = None


def _pid_recorder(store: Store) -> object:
    def record(pid: int, spec: SessionSpec) -> None:
        # Persisted at once: after a crash, recovery ends exactly the CLIs we started.
        if spec.run_id is not None:
            store.record_run(spec.run_id, cli_pid=pid)

    return record


@asynccontextmanager
async def open_backend(settings: Settings, store: Store) -> AsyncIterator[Backend]:
    passthrough = settings.agent.env_passthrough
    if settings.model.backend != "sim":
        passthrough += MODEL_ACCESS_ENV
    runtime = ClaudeRuntime(
        owner=settings.owner_id,
        on_process_started=_pid_recorder(store),  # type: ignore[arg-type]
        env_passthrough=passthrough,
        sandbox=settings.worker.sandbox,
        allowed_domains=settings.worker.allowed_domains,
    )
    if settings.model.backend != "sim":
        yield Backend(runtime=runtime, session_env={})
        return
    from orchestrator.sim import SimServer, sim_env

    async with SimServer(faults=settings.model.sim_faults, seed=settings.model.sim_seed) as sim:
        yield Backend(runtime=runtime, session_env=sim_env(sim.base_url), sim_url=sim.base_url)
