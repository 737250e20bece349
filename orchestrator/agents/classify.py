"""Which failures are worth another attempt, and which park the work on a rate limit.

How the bundled CLI (2.1.x) reports a failed model request to the SDK: it writes a
synthetic assistant message (``model="<synthetic>"``, ``error`` one of ``rate_limit``,
``server_error``, ``unknown``, ...; text ``"API Error: ..."``) and then a ``result`` with
``is_error: true``, ``subtype: "success"``, ``terminal_reason: "api_error"`` and
``api_error_status`` (429, 529, 500, ...; None for a cut or malformed stream). The
``Retry-After`` header does not survive that trip, so a retry-after is known only when the
error text names one.
"""

from __future__ import annotations

import re

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


def retry_after_from_text(text: str) -> float | None:
    match = _RETRY_AFTER_RE.search(text)
    return float(match.group(1)) if match else None


def _transient_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def classify_result(result: Result, api_error_kind: str | None = None) -> AgentError | None:
    """The error a finished session stands for, or None when it succeeded."""
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
    if status == 429 or api_error_kind == "rate_limit":
        return RateLimitedError(message, retry_after_s=retry_after_from_text(detail))
    if status is not None:
        return TransientAgentError(message) if _transient_status(status) else AgentError(message)
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
        if status == 429:
            return RateLimitedError(text, retry_after_s=retry_after_from_text(str(exc)))
        if status is not None and not _transient_status(status):
            return AgentError(text)
        return TransientAgentError(text)
    if isinstance(exc, ProcessError | CLIConnectionError | CLIJSONDecodeError | MessageParseError):
        return TransientAgentError(f"CLI failed: {type(exc).__name__}: {exc}{suffix}")
    if isinstance(exc, ClaudeSDKError | OSError):
        return TransientAgentError(f"{type(exc).__name__}: {exc}{suffix}")
    return None


__all__ = [
    "AgentLimitError",
    "ResumeNotFoundError",
    "classify_exception",
    "classify_result",
    "retry_after_from_text",
]
