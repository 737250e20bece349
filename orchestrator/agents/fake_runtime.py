"""``FakeRuntime``: scripted, in-process sessions for fast tests of callers.

Shipped in the package like httpx's ``MockTransport``. A script is a list of steps; tool
calls go through the same validation and the caller's real ``ToolHandler`` as with the
CLI, file writes through the same worktree guard, and limits through the same tracker::

    runtime = FakeRuntime({Role.WORKER: [Write("a.py", "x = 1\\n"),
                                         CallTool("report_result", {"status": "done",
                                                                    "summary": "ok"}),
                                         Finish(cost_usd=0.01)]})

A resumed session (``spec.resume`` set to an id this runtime handed out) continues after
the last step that completed, as a real resumed conversation would. ``Fail`` counts its
firings per step object, so reuse the same script objects across attempts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import anyio
import structlog

from orchestrator.domain.errors import AgentError, RateLimitedError
from orchestrator.domain.roles import Role, mcp_tool_name

from .classify import ResumeNotFoundError, classify_result
from .events import AgentEvent, Result, SessionStarted, Text, ToolCall, ToolResult, Usage
from .guard import resolve_target, write_denial
from .limits import LimitTracker
from .mcp_tools import invoke_tool
from .protocol import SessionSpec, ToolReply


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class CallTool:
    """Call one of the role's MCP tools (bare name) through the session's ToolHandler."""

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Write:
    """Use the built-in Write tool: guarded like the real one, then writes the file."""

    path: str
    content: str


@dataclass(frozen=True)
class Spend:
    """One model response's usage (counts as a turn)."""

    cost_usd: float
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, eq=False)
class Fail:
    """Raise ``error`` the first ``times`` times a session reaches this step.

    With ``result=True`` an error ``Result`` is yielded first, as the CLI does for an API
    error (status 429 for a ``RateLimitedError``, else 529); without, the session just dies
    (a cut stream, a crashed CLI).
    """

    error: AgentError
    times: int = 1
    result: bool = False


@dataclass(frozen=True)
class Emit:
    """Yield ``event`` as is: a CLI notice such as a ``RateLimitNotice``."""

    event: AgentEvent


@dataclass(frozen=True)
class Hang:
    """Send nothing for ``seconds``: trips the idle watchdog unless interrupted."""

    seconds: float = math.inf


@dataclass(frozen=True, eq=False)
class WaitUntil:
    """Wait until ``condition()`` holds, polling, at most ``timeout_s`` (then the session
    dies with ``TimeoutError``): orders a session after what another task does, without a
    fixed sleep."""

    condition: Callable[[], bool]
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Finish:
    text: str = "done"
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    is_error: bool = False
    subtype: str = "success"
    api_error_status: int | None = None


Step = Say | CallTool | Write | Spend | Fail | Emit | Hang | WaitUntil | Finish
Scripts = Mapping[Role, Sequence[Step]] | Callable[[SessionSpec], Sequence[Step]]


@dataclass(frozen=True)
class ToolCallRecord:
    role: Role
    tool: str
    args: dict[str, Any]
    reply: ToolReply


class FakeRuntime:
    """Plays ``scripts`` (per role, or a function of the spec) as agent sessions."""

    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts
        self.specs: list[SessionSpec] = []
        self.tool_calls: list[ToolCallRecord] = []
        self.runs: list[FakeRun] = []
        self._progress: dict[str, int] = {}
        #: Like the CLI, a resumed session's Result carries the session's cumulative cost.
        self._session_cost: dict[str, float] = {}
        self._fired: dict[int, int] = {}
        #: What ``probe`` raises; the envs it was called with.
        self.probe_error: Exception | None = None
        self.probes: list[dict[str, str]] = []

    def run(self, spec: SessionSpec) -> FakeRun:
        self.specs.append(spec)
        script = self._scripts(spec) if callable(self._scripts) else self._scripts[spec.role]
        run = FakeRun(self, spec, list(script))
        self.runs.append(run)
        return run

    def live_pids(self) -> frozenset[int]:
        return frozenset()

    async def probe(self, env: Mapping[str, str]) -> None:
        """Raises ``probe_error`` when a test set one (a backend without a login, say)."""
        self.probes.append(dict(env))
        if self.probe_error is not None:
            raise self.probe_error

    def _should_fail(self, step: Fail) -> bool:
        fired = self._fired.get(id(step), 0)
        if fired >= step.times:
            return False
        self._fired[id(step)] = fired + 1
        return True


class FakeRun:
    def __init__(self, runtime: FakeRuntime, spec: SessionSpec, script: list[Step]) -> None:
        self._runtime = runtime
        self.spec = spec
        if not script or not isinstance(script[-1], Finish):
            script.append(Finish())
        self._script = script
        self._limits = LimitTracker(spec.limits)
        self._session_id: str | None = None
        self._result: Result | None = None
        self._interrupted = False
        self._interrupt_event = anyio.Event()
        self._events: AsyncIterator[AgentEvent] | None = None
        self._log = structlog.get_logger(__name__).bind(run_id=spec.run_id, role=spec.role.value)

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def result(self) -> Result | None:
        return self._result

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    async def interrupt(self) -> None:
        self._interrupted = True
        self._interrupt_event.set()

    async def __aenter__(self) -> Self:
        resume = self.spec.resume
        if resume is not None and resume not in self._runtime._progress:
            raise ResumeNotFoundError(f"No conversation found with session ID: {resume}")
        self._session_id = resume or str(uuid.uuid4())
        self._runtime._progress.setdefault(self._session_id, 0)
        self._events = self._play()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._events is not None:
            await self._events.aclose()  # type: ignore[attr-defined]

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self

    async def __anext__(self) -> AgentEvent:
        if self._events is None:
            raise StopAsyncIteration
        return await self._events.__anext__()

    def _session_total(self, extra: float) -> float:
        assert self._session_id is not None
        totals = self._runtime._session_cost
        total = totals.get(self._session_id, 0.0) + self._limits.cost_usd + extra
        totals[self._session_id] = total
        return total

    def _interrupted_result(self) -> Result:
        assert self._session_id is not None
        return Result(
            session_id=self._session_id,
            is_error=True,
            subtype="error_during_execution",
            cost_usd=self._session_total(0.0),
            input_tokens=0,
            output_tokens=0,
            num_turns=self._limits.turns,
            duration_ms=0,
            text="",
            terminal_reason="aborted_streaming",
        )

    async def _play(self) -> AsyncIterator[AgentEvent]:
        session_id = self._session_id
        assert session_id is not None
        progress = self._runtime._progress
        yield SessionStarted(session_id)
        for index in range(progress[session_id], len(self._script)):
            step = self._script[index]
            if self._interrupted:
                self._result = self._interrupted_result()
                yield self._result
                return
            async for event in self._step(step, index):
                # Like the CLI runtime: the response that crosses a limit is still seen (and
                # its cost counted) before the limit error.
                yield event
                self._limits.observe(event)
            if self._interrupted and isinstance(step, Hang):
                self._result = self._interrupted_result()
                yield self._result
                return
            progress[session_id] = index + 1

    async def _step(self, step: Step, index: int) -> AsyncIterator[AgentEvent]:
        turn_id = f"fake_{self._session_id}_{index}"
        if isinstance(step, Say):
            yield Usage(0.0, 0, 0, turn_id)
            yield Text(step.text)
        elif isinstance(step, Spend):
            yield Usage(step.cost_usd, step.input_tokens, step.output_tokens, turn_id)
        elif isinstance(step, CallTool):
            yield Usage(0.0, 0, 0, turn_id)
            yield ToolCall(mcp_tool_name(step.tool), dict(step.args), turn_id)
            reply = await invoke_tool(
                self.spec.role, step.tool, dict(step.args), self.spec.tool_handler, self._log
            )
            self._runtime.tool_calls.append(
                ToolCallRecord(self.spec.role, step.tool, dict(step.args), reply)
            )
            yield ToolResult(turn_id, not reply.ok, reply.text)
        elif isinstance(step, Write):
            yield Usage(0.0, 0, 0, turn_id)
            yield ToolCall("Write", {"file_path": step.path, "content": step.content}, turn_id)
            yield self._write(step, turn_id)
        elif isinstance(step, Fail):
            if self._runtime._should_fail(step):
                if step.result:
                    status = 429 if isinstance(step.error, RateLimitedError) else 529
                    yield self._finish(
                        Finish(text=str(step.error), is_error=True, api_error_status=status)
                    )
                raise step.error
        elif isinstance(step, Emit):
            yield step.event
        elif isinstance(step, Hang):
            timeout, which = self._limits.next_wait()
            with anyio.move_on_after(min(step.seconds, timeout)) as scope:
                await self._interrupt_event.wait()
            if scope.cancelled_caught and step.seconds > timeout:
                raise self._limits.expired(which)
        elif isinstance(step, WaitUntil):
            with anyio.fail_after(step.timeout_s):
                while not step.condition():
                    await anyio.sleep(0.01)
        elif isinstance(step, Finish):
            yield self._finish(step)
            error = classify_result(self._result) if self._result else None
            if error is not None:
                raise error

    def _write(self, step: Write, turn_id: str) -> ToolResult:
        denial = write_denial("Write", {"file_path": step.path}, worktree=self.spec.cwd)
        if denial is not None:
            self._log.warning("tool_write_denied", tool="Write", path=step.path)
            return ToolResult(turn_id, True, denial)
        target = resolve_target(step.path, self.spec.cwd)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(step.content)
        return ToolResult(turn_id, False, f"File created successfully at: {target}")

    def _finish(self, step: Finish) -> Result:
        assert self._session_id is not None
        total = self._session_total(step.cost_usd)
        self._result = Result(
            session_id=self._session_id,
            is_error=step.is_error,
            subtype=step.subtype,
            cost_usd=total,
            input_tokens=step.input_tokens,
            output_tokens=step.output_tokens,
            num_turns=self._limits.turns,
            duration_ms=0,
            text=step.text,
            api_error_status=step.api_error_status,
            terminal_reason="api_error" if step.api_error_status else None,
        )
        return self._result
