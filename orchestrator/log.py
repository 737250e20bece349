"""structlog set-up: JSON lines to ``state/logs/``, readable lines on a TTY, secrets redacted."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from orchestrator.domain.redaction import (
    REDACTED,
    TOKEN_PATTERNS,
    Redactor,
    secret_values,
    use_redactor,
)

LOG_FILE_NAME = "orchestrator.jsonl"
#: Shapes of API keys and tokens that must never reach a log line.
SECRET_PATTERNS = TOKEN_PATTERNS
#: Keys whose values are secrets whatever they look like.
SECRET_KEYS = re.compile(r"(?i)(api[_-]?key|token|secret|password|authorization)")


class SecretRedactor:
    """A structlog processor that masks secrets in every string value of an event."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self._redactor = Redactor(secret_values)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def _clean(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            return REDACTED if SECRET_KEYS.search(key) and value else self.redact(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        return value

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict


def configure_logging(
    logs_dir: Path | None,
    level: str = "info",
    secret_env_vars: Iterable[str] = (),
    console: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """JSON lines into ``logs_dir`` (if given) and human lines to ``console`` on a TTY.

    ``secrets`` are masked as well as the variables' values (the store URL's password).
    """
    secrets = [*secret_values(os.environ, secret_env_vars), *secrets]
    # The same secrets are masked in everything stored (DB, reports, transcripts).
    use_redactor(Redactor(secrets))
    redactor = SecretRedactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redactor,
    ]
    handlers: list[logging.Handler] = []
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(logs_dir / LOG_FILE_NAME, encoding="utf-8")
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.processors.JSONRenderer(), foreign_pre_chain=shared
            )
        )
        handlers.append(file_handler)
    stream = console if console is not None else sys.stderr
    if stream.isatty():
        console_handler = logging.StreamHandler(stream)
        console_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.dev.ConsoleRenderer(colors=True), foreign_pre_chain=shared
            )
        )
        handlers.append(console_handler)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler logs every job it runs at info ("Running job", "executed successfully"):
    # a quarter of the log for nothing a user needs. Its warnings (missed jobs) stay.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "orchestrator", **bound: Any) -> Any:
    return structlog.get_logger(name).bind(**bound)
