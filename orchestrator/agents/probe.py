"""One look at the model backend before a run dispatches anything: can any session work?

Two checks, neither of which spends a model turn:

1. ``claude auth status`` (bundled CLI 2.1.x): JSON with ``loggedIn`` and ``apiProvider``,
   exit status 1 when nobody is logged in. Run with the environment the sessions get (the
   allow-listed part of ours plus theirs), so the simulator's ``ANTHROPIC_API_KEY`` counts
   as a login, and so does the user's own where it is passed through.
2. For the first-party API (ours or the simulator), one request to the free
   ``/v1/messages/count_tokens`` endpoint at ``ANTHROPIC_BASE_URL`` (default the public API):
   no answer at all means the backend cannot be reached; 401/403 to a key we sent means
   the key is refused. Without a key (a claude.ai login) a 401 still proves it reachable.

Failures raise ``AuthenticationError`` / ``BackendUnavailableError`` (park the run) or
``BackendUnreachableError``, each with the one line the user needs.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import anyio
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from orchestrator.domain.errors import (
    BackendUnavailableError,
    BackendUnreachableError,
)

from .classify import NOT_LOGGED_IN_LINE, auth_error
from .environment import passthrough_env, real_cli_path

DEFAULT_PUBLIC_API = "https://api.anthropic.com"
#: ``auth status`` answers in well under a second; the HTTP check gets a few tries.
AUTH_STATUS_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 10.0
HTTP_TRIES = 3
HTTP_RETRY_WAIT_S = 1.0
_PROBE_MODEL = "claude-sonnet-4-5"


def probe_env(passthrough: tuple[str, ...], extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a session's CLI sees: the allow-listed part of ours, then the
    session's variables (see ``options.cli_env``)."""
    env = passthrough_env(passthrough, os.environ)
    env.update(extra)
    return env


async def probe_backend(
    cli_path: str | Path | None, passthrough: tuple[str, ...], env: Mapping[str, str]
) -> None:
    """Raise the error that would park the run, or return when a session could start."""
    try:
        cli = real_cli_path(cli_path)
    except FileNotFoundError as exc:
        raise BackendUnavailableError(f"{exc}: reinstall it, then `orch run`") from None
    full_env = probe_env(passthrough, env)
    status = await auth_status(cli, full_env)
    if not status.get("loggedIn"):
        raise BackendUnavailableError(NOT_LOGGED_IN_LINE)
    if status.get("apiProvider", "firstParty") != "firstParty":
        return  # Bedrock, Vertex, ...: their endpoints are not ours to guess
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(BackendUnreachableError),
        stop=stop_after_attempt(HTTP_TRIES),
        wait=wait_fixed(HTTP_RETRY_WAIT_S),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await anyio.to_thread.run_sync(check_reachable, full_env)


async def auth_status(cli: str, env: Mapping[str, str]) -> dict[str, object]:
    """``claude auth status`` as a dict; ``{}`` (not logged in) when it says nothing useful."""
    try:
        # In a directory of its own: should CLAUDE_CODE_SUBPROCESS_ENV_SCRUB be on, the CLI
        # plants empty placeholder files (.env, package.json, ...) in its working directory.
        with (
            tempfile.TemporaryDirectory(prefix="orch-probe-") as cwd,
            anyio.fail_after(AUTH_STATUS_TIMEOUT_S),
        ):
            done = await anyio.run_process(
                [cli, "auth", "status"], env=dict(env), cwd=cwd, check=False
            )
    except TimeoutError:
        raise BackendUnavailableError(
            f"`claude auth status` did not answer within {AUTH_STATUS_TIMEOUT_S:g}s"
        ) from None
    except OSError as exc:
        raise BackendUnavailableError(f"Claude Code CLI could not start: {exc}") from None
    try:
        value = json.loads(done.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def check_reachable(env: Mapping[str, str]) -> None:
    """One count_tokens request; raises when nothing answers or our key is refused."""
    base = (env.get("ANTHROPIC_BASE_URL") or DEFAULT_PUBLIC_API).rstrip("/")
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    key = env.get("ANTHROPIC_API_KEY")
    if key:
        headers["x-api-key"] = key
    token = env.get("ANTHROPIC_AUTH_TOKEN")
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps(
        {"model": _PROBE_MODEL, "messages": [{"role": "user", "content": "ping"}]}
    ).encode()
    request = urllib.request.Request(
        f"{base}/v1/messages/count_tokens", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403) and (key or token):
            raise auth_error(_error_text(exc), exc.code) from None
        return  # any other answer: something is there
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendUnreachableError(
            f"the model backend at {base} cannot be reached ({reason}): check the network "
            "or ANTHROPIC_BASE_URL, then `orch run`"
        ) from None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        value = json.loads(exc.read().decode("utf-8", "replace"))
        return str(value["error"]["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return exc.reason if isinstance(exc.reason, str) else str(exc)
