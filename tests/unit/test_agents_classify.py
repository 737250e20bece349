"""Classification of failed results and SDK exceptions into retry / park / give up."""

from __future__ import annotations

from dataclasses import replace

import pytest
from claude_agent_sdk import CLIConnectionError, CLINotFoundError, ProcessError, ResultError
from claude_agent_sdk._errors import CLIJSONDecodeError

from orchestrator.agents import Result, ResumeNotFoundError, classify_exception, classify_result
from orchestrator.agents.classify import (
    NOT_LOGGED_IN_LINE,
    ErrorClass,
    error_class,
    retry_after_from_text,
)
from orchestrator.domain.errors import (
    AgentError,
    AgentLimitError,
    AuthenticationError,
    BackendUnreachableError,
    RateLimitedError,
    TransientAgentError,
)

OK = Result(
    session_id="s",
    is_error=False,
    subtype="success",
    cost_usd=0.1,
    input_tokens=1,
    output_tokens=1,
    num_turns=1,
    duration_ms=1,
    text="done",
)


def _api_error(status: int | None, text: str = "API Error") -> Result:
    return replace(
        OK, is_error=True, text=text, api_error_status=status, terminal_reason="api_error"
    )


def test_success_is_no_error() -> None:
    assert classify_result(OK) is None


def test_is_error_fails_whatever_the_subtype() -> None:
    error = classify_result(replace(OK, is_error=True))
    assert isinstance(error, AgentError)
    assert not isinstance(error, TransientAgentError)


def test_rate_limit_parks() -> None:
    error = classify_result(_api_error(429, "API Error: Request rejected (429) · Rate limited"))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s is None


def test_rate_limit_retry_after_from_the_text() -> None:
    error = classify_result(_api_error(429, "API Error: 429 slow down, retry after 12s"))
    assert isinstance(error, RateLimitedError) and error.retry_after_s == 12.0
    assert retry_after_from_text("Retry-After: 2.5") == 2.5
    assert retry_after_from_text("nothing") is None


@pytest.mark.parametrize("status", [500, 502, 503, 529, 408])
def test_server_errors_are_transient(status: int) -> None:
    error = classify_result(_api_error(status))
    assert isinstance(error, TransientAgentError) and not isinstance(error, RateLimitedError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_are_permanent(status: int) -> None:
    error = classify_result(_api_error(status))
    assert isinstance(error, AgentError) and not isinstance(error, TransientAgentError)


def test_cut_stream_without_status_is_transient() -> None:
    assert isinstance(classify_result(_api_error(None)), TransientAgentError)


def test_assistant_error_kind_decides_when_no_status() -> None:
    bare = replace(OK, is_error=True)
    assert isinstance(classify_result(bare, "rate_limit"), RateLimitedError)
    assert isinstance(classify_result(bare, "server_error"), TransientAgentError)
    auth = classify_result(bare, "authentication_failed")
    assert isinstance(auth, AgentError) and not isinstance(auth, TransientAgentError)


def test_cli_limits_are_limit_errors() -> None:
    turns = classify_result(replace(OK, is_error=True, subtype="error_max_turns"))
    budget = classify_result(replace(OK, is_error=True, subtype="error_max_budget_usd"))
    assert isinstance(turns, AgentLimitError) and str(turns).startswith("max_turns")
    assert isinstance(budget, AgentLimitError) and str(budget).startswith("max_cost")


def test_execution_error_is_transient() -> None:
    result = replace(OK, is_error=True, subtype="error_during_execution", errors=("boom",))
    assert isinstance(classify_result(result), TransientAgentError)


def test_missing_conversation_on_resume() -> None:
    result = replace(
        OK,
        is_error=True,
        subtype="error_during_execution",
        errors=("No conversation found with session ID: x",),
    )
    assert isinstance(classify_result(result), ResumeNotFoundError)
    exc = ResultError(
        "Claude Code returned an error result",
        data={
            "subtype": "error_during_execution",
            "errors": ["No conversation found with session ID: x"],
        },
        exit_code=1,
    )
    assert isinstance(classify_exception(exc), ResumeNotFoundError)


def test_sdk_exceptions() -> None:
    assert isinstance(classify_exception(CLIConnectionError("gone")), TransientAgentError)
    assert isinstance(classify_exception(ProcessError("exit", exit_code=1)), TransientAgentError)
    assert isinstance(
        classify_exception(CLIJSONDecodeError("{", ValueError())), TransientAgentError
    )
    assert isinstance(classify_exception(ConnectionResetError()), TransientAgentError)
    not_found = classify_exception(CLINotFoundError())
    assert isinstance(not_found, AgentError) and not isinstance(not_found, TransientAgentError)
    rate = classify_exception(ResultError("x", data={"api_error_status": 429}, exit_code=1))
    assert isinstance(rate, RateLimitedError)
    bad = classify_exception(ResultError("x", data={"api_error_status": 400}, exit_code=1))
    assert isinstance(bad, AgentError) and not isinstance(bad, TransientAgentError)


def test_stderr_tail_is_kept_in_the_message() -> None:
    error = classify_exception(CLIConnectionError("gone"), "fatal: out of memory")
    assert error is not None and "out of memory" in str(error)


def test_bugs_are_not_classified() -> None:
    assert classify_exception(KeyError("x")) is None
    agent_error = TransientAgentError("x")
    assert classify_exception(agent_error) is agent_error


# -- one class per failure (what the bundled CLI 2.1.x says, captured against the simulator) --


def _cli_error(status: int | None, text: str) -> Result:
    return replace(_api_error(status, text), text=text)


@pytest.mark.parametrize(
    ("result", "kind", "expected"),
    [
        (_cli_error(None, "Not logged in · Please run /login"), "authentication_failed", "auth"),
        (_cli_error(401, "Invalid API key · Fix external API key"), None, "auth"),
        (_cli_error(403, "Forbidden"), None, "auth"),
        (_cli_error(None, "Credit balance is too low"), "billing_error", "auth"),
        (
            _cli_error(
                None,
                "API Error: Connection dropped (ECONNRESET). Check the gateway set in "
                "ANTHROPIC_BASE_URL, then try again.",
            ),
            "server_error",
            "unreachable",
        ),
        (
            _cli_error(None, "API Error: Connection refused — a firewall (ECONNREFUSED)"),
            "server_error",
            "unreachable",
        ),
        (_cli_error(429, "API Error: Request rejected (429)"), "rate_limit", "rate_limit"),
        (_cli_error(529, "API Error: 529 Overloaded"), "server_error", "overloaded"),
        (_cli_error(500, "API Error: 500"), "server_error", "overloaded"),
        (
            _cli_error(None, "API Error: Connection to the API was lost (ECONNRESET)."),
            "server_error",
            "transient",
        ),
        (replace(OK, is_error=True, subtype="error_max_turns"), None, "work"),
        (replace(OK, is_error=True, text="the model said no"), None, "work"),
    ],
)
def test_every_failure_gets_one_class(result: Result, kind: str | None, expected: str) -> None:
    error = classify_result(result, kind)
    assert error is not None
    assert error_class(error) == ErrorClass(expected)


def test_auth_errors_are_one_actionable_line() -> None:
    no_login = classify_result(_cli_error(None, "Not logged in · Please run /login"), None)
    assert str(no_login) == NOT_LOGGED_IN_LINE
    refused = classify_result(_cli_error(401, "Invalid API key · Fix external API key"), None)
    assert isinstance(refused, AuthenticationError)
    assert "\n" not in str(refused) and str(refused).endswith("then `orch run`")
    assert not isinstance(refused, TransientAgentError), "no retry can cure a refused key"


def test_unreachable_is_retried_then_parks() -> None:
    error = classify_result(_cli_error(None, "API Error: Connection dropped (ECONNRESET)"))
    assert isinstance(error, BackendUnreachableError) and isinstance(error, TransientAgentError)


def test_exceptions_are_classified_the_same_way() -> None:
    auth = classify_exception(ResultError("x", data={"api_error_status": 401}, exit_code=1))
    assert auth is not None and error_class(auth) is ErrorClass.AUTH
    over = classify_exception(ResultError("x", data={"api_error_status": 529}, exit_code=1))
    assert over is not None and error_class(over) is ErrorClass.OVERLOADED
