"""Secrets never reach a log line: key shapes, bearer tokens, configured env vars, key names."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from orchestrator.log import (
    LOG_FILE_NAME,
    REDACTED,
    SecretRedactor,
    configure_logging,
    get_logger,
)

ANTHROPIC_KEY = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 4
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc123"


def redact(event: dict[str, object], secrets: tuple[str, ...] = ()) -> dict[str, object]:
    return dict(SecretRedactor(secrets)(None, "info", dict(event)))


def test_anthropic_key_is_masked_inside_text() -> None:
    out = redact({"event": "calling", "detail": f"using key {ANTHROPIC_KEY} now"})
    assert ANTHROPIC_KEY not in json.dumps(out)
    assert out["detail"] == f"using key {REDACTED} now"


def test_bearer_token_is_masked() -> None:
    out = redact({"event": "http", "header": f"Authorization: {BEARER}"})
    assert "eyJhbGciOiJIUzI1NiJ9" not in json.dumps(out)
    assert REDACTED in str(out["header"])


@pytest.mark.parametrize(
    "secret",
    [
        "ghp_" + "a" * 36,
        "xoxb-" + "1" * 20,
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "sk-" + "z" * 40,
    ],
)
def test_other_key_shapes_are_masked(secret: str) -> None:
    out = redact({"event": "x", "text": f"<{secret}>"})
    assert secret not in json.dumps(out)


def test_values_of_configured_env_vars_are_masked() -> None:
    value = "plain-looking-value-123"
    out = redact({"event": f"prefix {value} suffix", "nested": {"a": [value]}}, (value,))
    assert value not in json.dumps(out)
    assert out["event"] == f"prefix {REDACTED} suffix"


def test_short_configured_values_are_not_masked() -> None:
    # A short value would mask ordinary words everywhere.
    out = redact({"event": "the cat sat"}, ("cat",))
    assert out["event"] == "the cat sat"


@pytest.mark.parametrize(
    "key", ["api_key", "apiKey", "API-KEY", "token", "access_token", "secret", "password"]
)
def test_keys_named_like_secrets_are_masked_whatever_the_value(key: str) -> None:
    out = redact({"event": "x", key: "hunter2", "nested": {key: "hunter2"}})
    assert out[key] == REDACTED
    assert out["nested"] == {key: REDACTED}


def test_ordinary_values_pass_through() -> None:
    event = {"event": "wo_done", "wo_id": "WO-2026-001", "cost": 0.5, "tags": ["a", "b"]}
    assert redact(event) == event


def test_lists_and_dicts_are_walked() -> None:
    out = redact({"event": "x", "items": [{"note": ANTHROPIC_KEY}, (f"k={ANTHROPIC_KEY}",)]})
    assert ANTHROPIC_KEY not in json.dumps(out)


def test_configured_logging_redacts_the_file_and_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SECRET_VAR", "value-of-my-secret-var")
    configure_logging(
        tmp_path,
        level="debug",
        secret_env_vars=["MY_SECRET_VAR", "UNSET_VAR"],
        console=io.StringIO(),
    )
    try:
        log = get_logger(run_id="r1")
        log.info(
            "agent_started",
            prompt="uses value-of-my-secret-var here",
            api_key="anything",
            detail=f"Authorization: {BEARER} and {ANTHROPIC_KEY}",
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        lines = (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8").splitlines()
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        structlog.reset_defaults()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "agent_started"
    assert record["run_id"] == "r1"
    assert record["api_key"] == REDACTED
    text = lines[0]
    for secret in ("value-of-my-secret-var", ANTHROPIC_KEY, "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in text
