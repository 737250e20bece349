"""Which failures are worth another attempt, and which park the work on a rate limit.

How the bundled CLI (2.1.x) reports a failed model request to the SDK: it writes a
synthetic assistant message (``model="<synthetic>"``, ``error`` one of ``rate_limit``,
``server_error``, ``unknown``, ...; text ``"API Error: ..."``) and then a ``result`` with
``is_error: true``, ``subtype: "success"``, ``terminal_reason: "api_error"`` and
``api_error_status`` (429, 529, 500, ...; None for a cut or malformed stream). The
``Retry-After`` header survives only in the CLI's own ``api_retry`` system message
(``retry_delay_ms``, sent when the CLI retries the request itself; see ``options``), or when
the error text names one.

``translate`` turns both into events (``ApiRetry``, ``RateLimitNotice``) and the runtime
passes what they said on to ``classify_result``.

Every failure is classified once, here, into an ``ErrorClass``; callers decide by the class
(park the run, park the session, requeue, retry, or count a failed attempt), never by
matching messages themselves.
"""

from __future__ import annotations

import re
from enum import StrEnum

from claude_agent_sdk import (
    ClaudeSDKError,
    CLIConnectionError,
    CLIJSONDecodeError,
    CLINotFoundError,
    ProcessError,
    ResultError,
)
from claude_agent_sdk._errors import MessageParseError

from orchestrator.domain.errors import (
    AgentError,
    AgentLimitError,
    AuthenticationError,
    BackendUnavailableError,
    BackendUnreachableError,
    BudgetSpentError,
    RateLimitedError,
    TransientAgentError,
)

from .events import Result
from .limits import LimitName, limit_error


class ResumeNotFoundError(AgentError):
    """The CLI has no transcript for the session id we asked it to resume.

    Callers start a fresh session instead (the worktree still holds the work so far).
    """


_RETRY_AFTER_RE = re.compile(r"retry[- ]after[:= ]*(\d+(?:\.\d+)?)\s*s?", re.IGNORECASE)
_NO_CONVERSATION = "No conversation found"

#: AssistantMessage.error kinds that another attempt can cure.
_TRANSIENT_KINDS = frozenset({"rate_limit", "server_error", "unknown"})
#: AssistantMessage.error kinds no session can get past until a human acts.
_AUTH_KINDS = frozenset({"authentication_failed", "billing_error"})
_AUTH_STATUSES = frozenset({401, 403})
#: What the CLI's error text says when no connection could be made at all (a connection
#: lost mid-answer, "Connection to the API was lost", is an ordinary transient failure).
_UNREACHABLE_MARKERS = (
    "ECONNREFUSED",
    "ENOTFOUND",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "EAI_AGAIN",
    "Connection dropped",
    "Unable to connect",
)
_NOT_LOGGED_IN = "Not logged in"

#: The one line a parked run shows when the CLI has no login.
NOT_LOGGED_IN_LINE = "not logged in: run `claude /login`, then `orch run`"


class OverloadedError(TransientAgentError):
    """The model answered 5xx or 529: an outage of the service, not a fault of the work."""


class ErrorClass(StrEnum):
    """What a failure means for the work; only ``WORK`` consumes a WO's attempts."""

    #: No login, a refused key, no billing: the run parks until a human acts.
    AUTH = "auth"
    #: The backend cannot be reached at all: retried, then the run parks.
    UNREACHABLE = "unreachable"
    #: 429: the session parks for the reset time, then continues.
    RATE_LIMIT = "rate_limit"
    #: 5xx / 529: retried, then the work waits in line for the model to come back.
    OVERLOADED = "overloaded"
    #: A cut stream, a crashed CLI: retried by resuming the session.
    TRANSIENT = "transient"
    #: The run's (or the track's) budget share ran out: the work waits, uncounted.
    BUDGET = "budget"
    #: The session itself failed (a limit, an error result, a bad answer).
    WORK = "work"


def error_class(error: BaseException) -> ErrorClass:
    """The class of an error out of a session (after ``run_session``'s retries)."""
    if isinstance(error, BackendUnavailableError):
        return ErrorClass.AUTH
    if isinstance(error, BudgetSpentError):
        return ErrorClass.BUDGET
    if isinstance(error, BackendUnreachableError):
        return ErrorClass.UNREACHABLE
    if isinstance(error, RateLimitedError):
        return ErrorClass.RATE_LIMIT
    if isinstance(error, OverloadedError):
        return ErrorClass.OVERLOADED
    if isinstance(error, TransientAgentError):
        return ErrorClass.TRANSIENT
    return ErrorClass.WORK


def auth_error(detail: str, status: int | None = None) -> AuthenticationError:
    """The one-line, actionable error for a refused or missing login."""
    if _NOT_LOGGED_IN in detail:
        return AuthenticationError(NOT_LOGGED_IN_LINE)
    what = f"HTTP {status}: {detail}" if status is not None else detail
    return AuthenticationError(
        f"the model backend refused the credentials ({what}): check ANTHROPIC_API_KEY or "
        "run `claude /login`, then `orch run`"
    )


def _unreachable(detail: str) -> bool:
    return any(marker in detail for marker in _UNREACHABLE_MARKERS)


def retry_after_from_text(text: str) -> float | None:
    match = _RETRY_AFTER_RE.search(text)
    return float(match.group(1)) if match else None


def _transient_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def classify_result(
    result: Result, api_error_kind: str | None = None, retry_after_s: float | None = None
) -> AgentError | None:
    """The error a finished session stands for, or None when it succeeded.

    ``retry_after_s``: what the server asked for, as the CLI's ``api_retry`` message or a
    ``rate_limit_event`` told it; else the error text may name one.
    """
    if not result.is_error:
        return None
    detail = "; ".join(result.errors) or result.text or result.subtype
    if result.subtype == "error_max_turns":
        return limit_error(LimitName.MAX_TURNS, f"CLI stopped the session: {detail}")
    if result.subtype == "error_max_budget_usd":
        return limit_error(LimitName.MAX_COST, f"CLI stopped the session: {detail}")
    if any(_NO_CONVERSATION in e for e in result.errors):
        return ResumeNotFoundError(detail)
    status = result.api_error_status
    why = result.terminal_reason or result.subtype
    if status is not None:
        why = f"{why}, HTTP {status}"
    message = f"session {result.session_id} failed ({why}): {detail}"
    if status in _AUTH_STATUSES or api_error_kind in _AUTH_KINDS or _NOT_LOGGED_IN in detail:
        return auth_error(detail, status)
    if status == 429 or api_error_kind == "rate_limit":
        wait = retry_after_s if retry_after_s is not None else retry_after_from_text(detail)
        return RateLimitedError(message, retry_after_s=wait)
    if status is not None:
        if status >= 500:
            return OverloadedError(message)
        return TransientAgentError(message) if _transient_status(status) else AgentError(message)
    if _unreachable(detail):
        return BackendUnreachableError(f"the model backend cannot be reached: {detail}")
    if api_error_kind is not None:
        if api_error_kind in _TRANSIENT_KINDS:
            return TransientAgentError(message)
        return AgentError(message)
    if result.terminal_reason == "api_error":
        return TransientAgentError(message)  # stream cut or malformed response
    if result.subtype == "error_during_execution":
        # The CLI hit an internal error mid-run; the transcript is intact, so a resume helps.
        return TransientAgentError(message)
    return AgentError(message)


def classify_exception(exc: BaseException, stderr_tail: str = "") -> AgentError | None:
    """Map an exception out of the SDK onto our errors; None for anything else (a bug)."""
    if isinstance(exc, AgentError):
        return exc
    suffix = f" | stderr: {stderr_tail}" if stderr_tail else ""
    if isinstance(exc, CLINotFoundError):
        return AgentError(f"Claude Code CLI not found: {exc}")
    if isinstance(exc, ResultError):
        if any(_NO_CONVERSATION in e for e in exc.errors):
            return ResumeNotFoundError(f"{exc.session_id or '?'}: {'; '.join(exc.errors)}")
        status = exc.api_error_status
        text = f"CLI exited after an error result: {exc}{suffix}"
        if status in _AUTH_STATUSES:
            return auth_error(str(exc), status)
        if status == 429:
            return RateLimitedError(text, retry_after_s=retry_after_from_text(str(exc)))
        if status is not None and status >= 500:
            return OverloadedError(text)
        if status is not None and not _transient_status(status):
            return AgentError(text)
        return TransientAgentError(text)
    if isinstance(exc, ProcessError | CLIConnectionError | CLIJSONDecodeError | MessageParseError):
        return TransientAgentError(f"CLI failed: {type(exc).__name__}: {exc}{suffix}")
    if isinstance(exc, ClaudeSDKError | OSError):
        return TransientAgentError(f"{type(exc).__name__}: {exc}{suffix}")
    return None


__all__ = [
    "NOT_LOGGED_IN_LINE",
    "AgentLimitError",
    "ErrorClass",
    "OverloadedError",
    "ResumeNotFoundError",
    "auth_error",
    "classify_exception",
    "classify_result",
    "error_class",
    "retry_after_from_text",
]
