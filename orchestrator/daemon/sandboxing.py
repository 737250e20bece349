"""Whether workers may start: the sandbox is on and can run here, or the user turned it off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orchestrator.domain.errors import UserInputError

if TYPE_CHECKING:
    from orchestrator.config import Settings


def require_sandbox(settings: Settings) -> None:
    """Raise (one line, before any worker starts) when the sandbox is on but cannot run."""
    if settings.worker.sandbox:
        # Imported here: `orch status` uses sandbox_mode and must not load the SDK.
        from orchestrator.agents.sandbox import sandbox_problem

        problem = sandbox_problem()
        if problem is not None:
            raise UserInputError(problem)


def mode_line(sandbox: bool, allowed_domains: Sequence[str] = ()) -> str:
    """One line for `orch status` and the run report: which confinement is in force."""
    if not sandbox:
        return (
            "off (worker.sandbox = false): workers' Bash and the check run unconfined, "
            "and workers' Bash sees the model's credentials"
        )
    network = ", ".join(allowed_domains) or "none"
    return (
        "on (bubblewrap: workers' Bash and the check write only the worktree and a private "
        f"temp dir; network for workers' Bash: {network})"
    )


def sandbox_mode(settings: Settings) -> str:
    return mode_line(settings.worker.sandbox, settings.worker.allowed_domains)
