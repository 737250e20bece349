"""The contract between the daemon and whatever runs agent sessions.

``ClaudeRuntime`` runs the real Claude Code CLI through claude-agent-sdk; ``FakeRuntime``
plays scripts in-process for fast tests of callers. Both satisfy ``AgentRuntime``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from claude_agent_sdk import SessionStore

from orchestrator.domain.roles import Role

from .events import AgentEvent, Result
from .limits import Limits


@dataclass(frozen=True)
class ToolReply:
    """What a tool call returns to the agent. ``ok=False`` is shown as an error result."""

    ok: bool
    text: str


class ToolHandler(Protocol):
    """Carries out a validated MCP tool call for one session.

    ``tool`` is the bare name (``report_result``, not ``mcp__orch__report_result``) and
    ``args`` already satisfy the tool's JSON schema. Check domain rules here and answer
    ``ToolReply(ok=False, text=why)`` so the agent can correct itself. A handler may be
    called again for the same decision after a resume: make it idempotent. An exception
    is logged and reported to the agent as an internal error.
    """

    async def __call__(self, tool: str, args: dict[str, Any]) -> ToolReply: ...


@dataclass(frozen=True)
class SessionSpec:
    """Everything one session attempt needs. Resume = the same spec with ``resume`` set to
    the session id and a new ``user_prompt``."""

    role: Role
    system_prompt: str
    user_prompt: str
    cwd: Path
    tool_handler: ToolHandler
    resume: str | None = None
    limits: Limits = field(default_factory=Limits)
    #: Becomes CLAUDE_CONFIG_DIR: the simulator backend gives each session its own.
    config_dir: Path | None = None
    #: Extra environment for the CLI (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    #: An SDK ``SessionStore`` that mirrors the transcript (and feeds resumes).
    session_store: SessionStore | None = None
    run_id: str | None = None
    #: Bound to every log line of the session (track_id, wo_id, ...).
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Paths the sandboxed Bash of a worker may not write (the state home's DB and config,
    #: the user's checkout); where one holds ``cwd``, the rest of it.
    protected: tuple[Path, ...] = ()


@runtime_checkable
class AgentRun(Protocol):
    """One session attempt: an async context manager that is also an async iterator.

    ::

        async with runtime.run(spec) as run:
            async for event in run:
                ...

    Contract:

    - ``__aenter__`` starts the CLI (or the fake) and sends ``spec.user_prompt``.
    - Iteration yields events in order. ``SessionStarted`` comes first, as soon as the
      session id is known and before any tool runs; ``Result`` comes last.
    - A ``Result`` with ``is_error`` is yielded and then the iteration raises the
      classified error: ``RateLimitedError`` (park, then retry), ``TransientAgentError``
      (retry, resuming the session), ``AgentLimitError`` or ``AgentError`` (give up). The
      one exception is a session the caller interrupted: it ends without raising.
    - A stream that ends without a ``Result`` raises ``TransientAgentError``.
    - The runtime enforces ``spec.limits`` (wall clock, idle, turns, estimated cost) and
      raises ``AgentLimitError`` naming the limit.
    - ``__aexit__`` always ends the CLI's whole process tree, whether the block finished,
      raised or was cancelled; no ``claude`` process outlives the block.
    - ``interrupt()`` may be called from another task; the session ends with an error
      ``Result`` (subtype ``error_during_execution``) and iteration stops without raising.
    """

    @property
    def session_id(self) -> str | None: ...

    @property
    def result(self) -> Result | None: ...

    @property
    def interrupted(self) -> bool: ...

    async def interrupt(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[AgentEvent]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class AgentRuntime(Protocol):
    """Starts agent sessions. Safe to use from many tasks at once (one run per session).

    ``live_pids()`` lists the CLI processes running now, for the daemon to persist so it can
    end orphans after a crash (see ``orchestrator.agents.processes``).

    ``probe(env)`` checks, without spending a model turn where the backend allows, that a
    session with ``env`` could work at all; it raises ``BackendUnavailableError`` (no
    login, a refused key) or ``BackendUnreachableError`` with the one line to show, and
    returns otherwise.
    """

    def run(self, spec: SessionSpec) -> AgentRun: ...

    def live_pids(self) -> frozenset[int]: ...

    async def probe(self, env: Mapping[str, str]) -> None: ...
