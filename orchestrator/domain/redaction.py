"""Redacting secrets from text before it is stored: configured values and token shapes.

One :class:`Redactor` serves every sink (log lines, the DB, reports, commit messages, CLI
transcripts under ``state/``): the values of secret environment variables, and anything that
looks like a token whatever variable it came from. The process-wide one is set once at the
edge (``use_redactor``); until then it knows the token shapes and the secrets in
``os.environ`` by their names, so nothing is stored unredacted before the settings load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"

#: Shapes of API keys and tokens that must never be stored, whoever printed them.
TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    # A PEM private key: its base64 body (newlines raw or JSON-escaped) and END line if any.
    # The body's alphabet is explicit so a cut-off key in a JSON string never eats the quote.
    re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[A-Za-z0-9+/=:, \t\r\n]|\\[nrt])*"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?"
    ),
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"xox[a-z]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]{16,}"),
)

#: Variable names whose values are secrets whatever they look like.
SECRET_NAME = re.compile(r"(?i)(api[_-]?key|token|secret|passw(or)?d|credential|private[_-]?key)")

#: Shorter values would mask ordinary words; real secrets are long.
MIN_SECRET_LENGTH = 8

#: ``NAME=value`` as ``env`` prints it (upper-case names) with a secret-sounding name: the
#: value is masked even when the daemon never knew it (the CLI sandbox's per-session proxy
#: password). No ``\b`` before the name: in a JSON-escaped transcript it follows ``\n``.
SECRET_ASSIGNMENT = re.compile(
    r"(?P<name>(?<![A-Z0-9_])[A-Z_][A-Z0-9_]*)=(?P<value>[^\s\"'\\]{"
    + str(MIN_SECRET_LENGTH)
    + ",})"
)


def secret_values(env: Mapping[str, str], names: Iterable[str] = ()) -> list[str]:
    """Values of the listed variables and of every variable whose name says it is secret."""
    listed = set(names)
    return [
        value
        for name, value in env.items()
        if value and (name in listed or SECRET_NAME.search(name))
    ]


class Redactor:
    """Masks known secret values and token-shaped strings."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        # Longest first: a secret that contains another is masked whole.
        self._values = sorted(
            {v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern in TOKEN_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return SECRET_ASSIGNMENT.sub(_mask_secret_assignment, text)

    def redact_data(self, value: Any) -> Any:
        """Every string inside JSON-like data (dicts, lists, tuples) redacted; keys too."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {
                self.redact(k) if isinstance(k, str) else k: self.redact_data(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(self.redact_data(v) for v in value)
        return value


def _mask_secret_assignment(match: re.Match[str]) -> str:
    if not SECRET_NAME.search(match.group("name")) or match.group("value") == REDACTED:
        return match.group(0)
    return f"{match.group('name')}={REDACTED}"


#: The password part of a URL's user info: ``scheme://user:PASSWORD@host``.
_URL_PASSWORD = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.\-]*://[^:/@]*:)(?P<password>[^@]*)@")


def url_password(url: str) -> str | None:
    """The password a URL carries (``postgresql+psycopg://user:PASSWORD@host/db``), if any."""
    match = _URL_PASSWORD.match(url)
    return match.group("password") if match and match.group("password") else None


def mask_url_password(url: str) -> str:
    """``url`` as it may be shown: its password replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", url, count=1)


_active: Redactor | None = None


def use_redactor(redactor: Redactor) -> None:
    """Make ``redactor`` the one every store and file sink of this process uses."""
    global _active
    _active = redactor


def active_redactor() -> Redactor:
    global _active
    if _active is None:
        _active = Redactor(secret_values(os.environ))
    return _active


def redact(text: str) -> str:
    """``text`` through the process-wide redactor."""
    return active_redactor().redact(text)
