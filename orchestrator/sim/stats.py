"""Counters per role and per fault, plus the last request bodies per role for tests."""

from __future__ import annotations

import copy
import threading
from collections import Counter, deque
from typing import Any

#: The stats key of requests without one of our role lines (the CLI's side requests).
OTHER_ROLE = "other"

#: How many request bodies per role ``SimStats.requests`` keeps by default.
DEFAULT_KEEP_REQUESTS = 50


class SimStats:
    """Thread-safe counters; ``snapshot()`` is what ``GET /_sim/stats`` returns."""

    def __init__(self, keep_requests: int = DEFAULT_KEEP_REQUESTS) -> None:
        self._lock = threading.Lock()
        self._keep = keep_requests
        self._requests: Counter[str] = Counter()
        self._input: Counter[str] = Counter()
        self._output: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._count_tokens = 0
        self._bad_requests = 0
        self._errors: list[str] = []
        self._bodies: dict[str, deque[dict[str, Any]]] = {}

    def record_request(self, role: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._requests[role] += 1
            self._bodies.setdefault(role, deque(maxlen=self._keep)).append(body)

    def record_tokens(self, role: str, input_tokens: int, output_tokens: int) -> None:
        """Only answered requests count: the real API does not bill failed ones."""
        with self._lock:
            self._input[role] += input_tokens
            self._output[role] += output_tokens

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def record_count_tokens(self) -> None:
        with self._lock:
            self._count_tokens += 1

    def record_bad_request(self) -> None:
        with self._lock:
            self._bad_requests += 1

    def record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def requests(self, role: str) -> list[dict[str, Any]]:
        """The last request bodies of a role, oldest first (deep copies: safe to inspect)."""
        with self._lock:
            return copy.deepcopy(list(self._bodies.get(role, ())))

    def errors(self) -> list[str]:
        """Tracebacks of simulator bugs (each one was answered with a text reply, not a crash)."""
        with self._lock:
            return list(self._errors)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            roles = sorted(set(self._requests) | set(self._input) | set(self._output))
            return {
                "requests": sum(self._requests.values()),
                "input_tokens": sum(self._input.values()),
                "output_tokens": sum(self._output.values()),
                "roles": {
                    role: {
                        "requests": self._requests[role],
                        "input_tokens": self._input[role],
                        "output_tokens": self._output[role],
                    }
                    for role in roles
                },
                "faults": dict(sorted(self._faults.items())),
                "count_tokens_requests": self._count_tokens,
                "bad_requests": self._bad_requests,
                "errors": len(self._errors),
            }
