"""``ClaudeRuntime``: agent sessions on the real Claude Code CLI through ``ClaudeSDKClient``.

CLI behaviours this module is built around (bundled CLI 2.1.x, SDK 0.2.x):

- The ``init`` system message, which carries the session id, arrives only after the first
  user message has been written to the CLI, and before the first model request.
- The CLI retries failed requests itself unless told not to (see ``options``).
- A failed request ends the run with a synthetic assistant message (``error`` set) and a
  ``result`` with ``is_error: true`` and ``api_error_status`` (see ``classify``).
- ``interrupt()`` ends the turn with a ``result`` of subtype ``error_during_execution``.
- ``total_cost_usd`` comes only with the ``result``; assistant messages carry the usage of
  the response's start (output tokens understated), one message per content block.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import psutil
import structlog
from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, Message

from orchestrator.domain.errors import AgentError, TransientAgentError

from .classify import classify_exception, classify_result
from .environment import DEFAULT_PASSTHROUGH, redact_files
from .events import (
    AgentEvent,
    ApiError,
    ApiRetry,
    RateLimitNotice,
    Result,
    SessionStarted,
    Usage,
)
from .guard import WritePolicy, write_denial
from .limits import LimitName, LimitTracker
from .options import (
    DEFAULT_CLI_ENV,
    DEFAULT_CLI_MAX_RETRIES,
    DEFAULT_SETTING_SOURCES,
    CliSettings,
    sandboxed,
    session_options,
    session_temp_dir,
)
from .probe import probe_backend
from .processes import (
    DEFAULT_KILL_GRACE_S,
    DEFAULT_OWNER,
    end_process_tree,
    find_cli_processes,
    find_session_processes,
)
from .protocol import SessionSpec
from .translate import translate

#: The CLI answers ``initialize`` within a second or two when healthy.
DEFAULT_CONNECT_TIMEOUT_S = 60.0
#: Bound on the SDK's graceful close (stdin EOF, then its own terminate/kill ladder).
DISCONNECT_TIMEOUT_S = 20.0
_STDERR_TAIL = 20
_PID_POLL_S = 0.05

ProcessCallback = Callable[[int, SessionSpec], None]
_log = structlog.get_logger(__name__)


class ClaudeRuntime:
    """Runs sessions on the bundled Claude Code CLI; see ``AgentRuntime`` for the contract.

    ``owner`` marks every CLI process (see ``processes``): use one value per state home.
    ``on_process_started(pid, spec)`` is called as soon as a CLI pid is known (persist it
    for orphan cleanup), ``on_process_ended(pid, spec)`` once its tree has been ended.
    """

    def __init__(
        self,
        *,
        owner: str = DEFAULT_OWNER,
        cli_path: str | Path | None = None,
        cli_max_retries: int | None = DEFAULT_CLI_MAX_RETRIES,
        base_env: Mapping[str, str] = DEFAULT_CLI_ENV,
        setting_sources: tuple[str, ...] = DEFAULT_SETTING_SOURCES,
        kill_grace_s: float = DEFAULT_KILL_GRACE_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        on_process_started: ProcessCallback | None = None,
        on_process_ended: ProcessCallback | None = None,
        write_policy: WritePolicy = write_denial,
        env_passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH,
        sandbox: bool = False,
        allowed_domains: tuple[str, ...] = (),
    ) -> None:
        self.owner = owner
        self.cli = CliSettings(
            owner=owner,
            cli_path=cli_path,
            cli_max_retries=cli_max_retries,
            base_env=dict(base_env),
            setting_sources=setting_sources,
            write_policy=write_policy,
            env_passthrough=env_passthrough,
            sandbox=sandbox,
            allowed_domains=allowed_domains,
        )
        self.kill_grace_s = kill_grace_s
        self.connect_timeout_s = connect_timeout_s
        self._on_started = on_process_started
        self._on_ended = on_process_ended
        self._live: dict[int, str] = {}

    def run(self, spec: SessionSpec) -> ClaudeRun:
        return ClaudeRun(self, spec)

    def live_pids(self) -> frozenset[int]:
        return frozenset(self._live)

    async def probe(self, env: Mapping[str, str]) -> None:
        await probe_backend(
            self.cli.cli_path, self.cli.env_passthrough, {**self.cli.base_env, **env}
        )

    def options_for(
        self,
        spec: SessionSpec,
        *,
        token: str,
        stderr: Callable[[str], None] | None = None,
        log: Any = None,
    ) -> ClaudeAgentOptions:
        """The SDK options of one session attempt (public so tests can inspect them)."""
        return session_options(spec, self.cli, token=token, stderr=stderr, log=log)

    def _started(self, pid: int, token: str, spec: SessionSpec) -> None:
        self._live[pid] = token
        self._notify(self._on_started, pid, spec)

    def _ended(self, pid: int, spec: SessionSpec) -> None:
        if self._live.pop(pid, None) is not None:
            self._notify(self._on_ended, pid, spec)

    @staticmethod
    def _notify(callback: ProcessCallback | None, pid: int, spec: SessionSpec) -> None:
        if callback is None:
            return
        try:
            callback(pid, spec)
        except Exception:
            # A failing bookkeeping callback must not leave a CLI running unobserved.
            _log.exception("process_callback_failed", pid=pid, run_id=spec.run_id)


class ClaudeRun:
    """One session attempt on the CLI. Use through ``ClaudeRuntime.run``."""

    def __init__(self, runtime: ClaudeRuntime, spec: SessionSpec) -> None:
        self._runtime = runtime
        self.spec = spec
        self._token = uuid.uuid4().hex
        self._log = structlog.get_logger(__name__).bind(
            run_id=spec.run_id, role=spec.role.value, **dict(spec.labels)
        )
        self._limits = LimitTracker(spec.limits)
        self._client: ClaudeSDKClient | None = None
        self._messages: AsyncIterator[Message] | None = None
        self._procs: dict[int, psutil.Process] = {}
        self._pending: deque[AgentEvent] = deque()
        self._error: BaseException | None = None
        self._done = False
        self._connected = False
        self._session_id: str | None = spec.resume
        self._result: Result | None = None
        self._interrupted = False
        self._api_error_kind: str | None = None
        #: Seconds the server asked us to wait (an api_retry of a 429, a rate_limit_event).
        self._retry_after_s: float | None = None
        self._stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL)

    # -- AgentRun ----------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def result(self) -> Result | None:
        return self._result

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    @property
    def pids(self) -> frozenset[int]:
        return frozenset(self._procs)

    async def interrupt(self) -> None:
        self._interrupted = True
        if self._client is None or not self._connected or self._done:
            return  # __aenter__ sends it once connected
        try:
            with anyio.fail_after(self._runtime.connect_timeout_s):
                await self._client.interrupt()
            self._log.info("agent_interrupted")
        except Exception as exc:
            # The CLI did not take the interrupt: end it the hard way.
            self._log.warning("agent_interrupt_failed", error=str(exc))
            await self._end_tree()

    async def __aenter__(self) -> Self:
        self._log.info("agent_session_starting", resume=self.spec.resume, cwd=str(self.spec.cwd))
        if sandboxed(self.spec, self._runtime.cli):
            # Private (0700) and new: never a directory someone else made.
            session_temp_dir(self._token).mkdir(mode=0o700)
        options = self._runtime.options_for(
            self.spec, token=self._token, stderr=self._on_stderr, log=self._log
        )
        self._client = ClaudeSDKClient(options)
        wall_left = self._limits.wall_clock_left
        timeout = min(wall_left, self._runtime.connect_timeout_s)
        try:
            with anyio.fail_after(timeout):
                await self._connect(self._client)
                await self._client.query(self.spec.user_prompt)
            self._connected = True
            self._messages = self._client.receive_messages().__aiter__()
            if self._interrupted:
                await self.interrupt()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._shutdown(graceful=False)
            if isinstance(exc, TimeoutError):
                if wall_left <= self._runtime.connect_timeout_s:
                    raise self._limits.expired(LimitName.WALL_CLOCK) from exc
                raise TransientAgentError(
                    f"CLI did not start within {timeout:g}s{self._stderr_suffix()}"
                ) from exc
            if isinstance(exc, Exception):
                classified = classify_exception(exc, self._stderr_text())
                if classified is not None and classified is not exc:
                    raise classified from exc
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Shielded: this is the path a cancelled daemon task takes, and an unshielded
        # await here would leave the CLI running.
        with anyio.CancelScope(shield=True):
            await self._shutdown(graceful=exc_type is None and self._result is not None)

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self

    async def __anext__(self) -> AgentEvent:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._error is not None:
                error, self._error = self._error, None
                self._done = True
                raise error
            if self._done or self._messages is None:
                raise StopAsyncIteration
            await self._pump()

    # -- internals ---------------------------------------------------------------------

    async def _pump(self) -> None:
        """Read one SDK message (bounded by the idle/wall-clock limits) into events."""
        assert self._messages is not None
        timeout, which = self._limits.next_wait()
        try:
            with anyio.fail_after(timeout):
                message = await self._messages.__anext__()
        except TimeoutError:
            await self._fail(self._limits.expired(which))
            return
        except StopAsyncIteration:
            if self._interrupted:
                self._done = True
                return
            await self._fail(
                TransientAgentError(f"CLI stream ended without a result{self._stderr_suffix()}")
            )
            return
        except Exception as exc:
            if self._interrupted:
                # An interrupt the CLI did not take ended it the hard way: that is the end.
                self._done = True
                return
            classified = classify_exception(exc, self._stderr_text())
            if classified is None:
                raise
            await self._fail(classified)
            return
        try:
            self._take(translate(message))
        except AgentError as exc:  # a count limit
            await self._fail(exc)

    def _take(self, events: list[AgentEvent]) -> None:
        for event in events:
            if isinstance(event, Usage) and not self._limits.is_new(event):
                continue
            self._pending.append(event)
            self._limits.observe(event)
            if isinstance(event, SessionStarted):
                self._session_id = event.session_id
                self._log.info("agent_session_started", session_id=event.session_id)
            elif isinstance(event, ApiRetry):
                if event.status == 429:
                    self._retry_after_s = event.delay_s
                self._log.warning("agent_api_retry", status=event.status, delay_s=event.delay_s)
            elif isinstance(event, RateLimitNotice):
                self._log.warning(
                    "agent_rate_limit", status=event.status, resets_at=event.resets_at
                )
                if event.status == "rejected" and event.resets_at is not None:
                    self._retry_after_s = max(event.resets_at - time.time(), 0.0)
            elif isinstance(event, ApiError):
                self._api_error_kind = event.kind
                self._log.warning("agent_api_error", kind=event.kind, text=event.text[:500])
            elif isinstance(event, Result):
                self._on_result(event)

    def _on_result(self, result: Result) -> None:
        self._result = result
        self._session_id = result.session_id or self._session_id
        self._done = True
        self._log.info(
            "agent_session_result",
            session_id=result.session_id,
            is_error=result.is_error,
            subtype=result.subtype,
            cost_usd=result.cost_usd,
            num_turns=result.num_turns,
            api_error_status=result.api_error_status,
        )
        if self._interrupted and result.is_error:
            return
        error = classify_result(result, self._api_error_kind, self._retry_after_s)
        if error is not None:
            self._error = error
            self._done = False  # raise after the Result has been yielded

    async def _fail(self, error: AgentError) -> None:
        self._log.warning("agent_session_failed", error=f"{type(error).__name__}: {error}")
        self._error = error
        # End the CLI now, not at __aexit__: a caller may handle the error inside its block.
        with anyio.CancelScope(shield=True):
            await self._end_tree()

    def _on_stderr(self, line: str) -> None:
        self._stderr_tail.append(line)
        self._log.debug("cli_stderr", line=line)

    def _stderr_text(self) -> str:
        return " | ".join(self._stderr_tail)

    def _stderr_suffix(self) -> str:
        text = self._stderr_text()
        return f" | stderr: {text}" if text else ""

    def _record_processes(self) -> bool:
        if self._procs:
            # Found once is enough: whatever the CLI spawns later is reached through its tree,
            # and each scan reads the environment of every child process.
            return True
        for proc in find_cli_processes(self._token):
            if proc.pid not in self._procs:
                self._procs[proc.pid] = proc
                self._log.info("cli_process_started", pid=proc.pid)
                self._runtime._started(proc.pid, self._token, self.spec)
        return bool(self._procs)

    async def _connect(self, client: ClaudeSDKClient) -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_for_process)
            try:
                await client.connect()
            except Exception as exc:
                # Re-raised below, outside the task group, so it is not wrapped in an
                # ExceptionGroup.
                failure = exc
            self._record_processes()
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _watch_for_process(self) -> None:
        # connect() only returns after the CLI answered ``initialize``; report the pid as
        # soon as the process exists so a crash in between still leaves a record.
        while not self._record_processes():
            await anyio.sleep(_PID_POLL_S)

    def _tree(self) -> list[psutil.Process]:
        procs = list(self._procs.values())
        for proc in list(procs):
            with contextlib.suppress(psutil.Error):
                procs.extend(proc.children(recursive=True))
        # What a dead CLI left behind is no longer its child, but still carries our marker.
        known = {proc.pid for proc in procs}
        procs.extend(p for p in find_session_processes(self._token) if p.pid not in known)
        return procs

    async def _end_tree(self) -> None:
        self._record_processes()
        await end_process_tree(self._tree(), self._runtime.kill_grace_s)

    async def _shutdown(self, *, graceful: bool) -> None:
        self._record_processes()
        tree = self._tree()
        if not graceful:
            await end_process_tree(tree, self._runtime.kill_grace_s)
        if self._client is not None:
            client, self._client = self._client, None
            # The SDK's close reaps its child (we never wait() on it ourselves).
            with anyio.move_on_after(DISCONNECT_TIMEOUT_S):
                try:
                    await client.disconnect()
                except Exception as exc:
                    self._log.debug("cli_disconnect_failed", error=str(exc))
        # Whatever the CLI left behind (a background shell, say) goes too.
        await end_process_tree(tree, self._runtime.kill_grace_s)
        for pid in list(self._procs):
            self._runtime._ended(pid, self.spec)
        if sandboxed(self.spec, self._runtime.cli):
            # The private temp dir dies with the attempt (a resume gets a fresh one).
            temp_dir = session_temp_dir(self._token)
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(temp_dir, ignore_errors=True))
        # The CLI's own transcript under state/ holds tool output verbatim.
        try:
            await anyio.to_thread.run_sync(redact_files, self.spec.config_dir)
        except OSError as exc:
            self._log.warning("transcript_redaction_failed", error=str(exc))
        self._log.info("agent_session_closed", graceful=graceful, session_id=self._session_id)
