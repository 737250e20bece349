"""Fault injection: a spec string, its parser, and the seeded decision per request.

A spec is a comma-separated list of ``kind:value`` items, for example
``429:0.2,529:0.1,500:0.05,cut:0.05,stall:0.02,latency:200ms,scope:all``:

- ``429``, ``529``, ``500``, ``cut``, ``stall``: the probability (0..1) that a request gets this
  fault. At most one of them hits a request, so their sum must not exceed 1.
- ``401`` (the key is refused: a missing login) and ``down`` (the connection is dropped before
  any answer: an unreachable backend) are drawn the same way, and hit every request,
  side requests and ``count_tokens`` too whatever the scope: a dead backend is no role's.
- ``latency``: a fixed delay before every answer in scope (``200ms``, ``1.5s``).
- ``scope``: ``roles`` (default) limits faults to requests that carry one of our role lines;
  ``all`` also hits the CLI's side requests.

Decisions come from one ``random.Random(seed)`` with exactly one draw per eligible request, so
the same seed and the same request order give the same faults.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    OVERLOADED = "529"
    CUT = "cut"
    STALL = "stall"
    UNAUTHORIZED = "401"
    DOWN = "down"


class FaultScope(StrEnum):
    ROLES = "roles"
    ALL = "all"


#: Order in which the probabilities are laid out on [0, 1): fixed so a seed means one sequence.
_KIND_ORDER: tuple[FaultKind, ...] = (
    FaultKind.RATE_LIMIT,
    FaultKind.OVERLOADED,
    FaultKind.SERVER_ERROR,
    FaultKind.CUT,
    FaultKind.STALL,
    FaultKind.UNAUTHORIZED,
    FaultKind.DOWN,
)

#: Faults of the whole backend rather than of one answer.
BACKEND_FAULTS = frozenset({FaultKind.UNAUTHORIZED, FaultKind.DOWN})

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault spec; ``FaultSpec()`` injects nothing."""

    probabilities: dict[FaultKind, float] = field(default_factory=dict)
    latency_s: float = 0.0
    scope: FaultScope = FaultScope.ROLES

    def __str__(self) -> str:
        parts = [
            f"{k.value}:{self.probabilities[k]:g}" for k in _KIND_ORDER if k in self.probabilities
        ]
        if self.latency_s:
            parts.append(f"latency:{round(self.latency_s * 1000)}ms")
        if self.scope is not FaultScope.ROLES:
            parts.append(f"scope:{self.scope.value}")
        return ",".join(parts)


def parse_fault_spec(spec: str) -> FaultSpec:
    """Parse a spec string; an empty string means no faults. Raises ValueError on bad input."""
    probabilities: dict[FaultKind, float] = {}
    latency_s = 0.0
    scope = FaultScope.ROLES
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep or not value:
            raise ValueError(f"fault spec item {item!r} must look like KIND:VALUE")
        if name == "latency":
            latency_s = _parse_duration(value, item)
        elif name == "scope":
            try:
                scope = FaultScope(value.lower())
            except ValueError:
                raise ValueError(
                    f"fault spec item {item!r}: scope must be 'roles' or 'all'"
                ) from None
        else:
            kind = _parse_kind(name, item)
            if kind in probabilities:
                raise ValueError(f"fault spec names {kind.value!r} twice")
            probabilities[kind] = _parse_probability(value, item)
    total = sum(probabilities.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault probabilities add up to {total:g}, more than 1")
    return FaultSpec(probabilities=probabilities, latency_s=latency_s, scope=scope)


def _parse_kind(name: str, item: str) -> FaultKind:
    try:
        return FaultKind(name)
    except ValueError:
        known = ", ".join([k.value for k in _KIND_ORDER] + ["latency", "scope"])
        raise ValueError(f"fault spec item {item!r}: unknown kind {name!r} ({known})") from None


def _parse_probability(value: str, item: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise ValueError(f"fault spec item {item!r}: {value!r} is not a probability") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"fault spec item {item!r}: probability must be between 0 and 1")
    return p


def _parse_duration(value: str, item: str) -> float:
    match = _DURATION_RE.match(value.lower())
    if match is None:
        raise ValueError(f"fault spec item {item!r}: latency must be a duration like 200ms or 1.5s")
    number = float(match.group(1))
    return number / 1000.0 if match.group(2) == "ms" else number


@dataclass(frozen=True)
class Decision:
    kind: FaultKind | None = None
    delay_s: float = 0.0


class FaultInjector:
    """Thread-safe: the HTTP server answers requests on many threads at once."""

    def __init__(self, spec: FaultSpec | str = "", seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._spec = parse_fault_spec(spec) if isinstance(spec, str) else spec
        self._rng = random.Random(seed)

    @property
    def spec(self) -> FaultSpec:
        with self._lock:
            return self._spec

    def set_spec(self, spec: FaultSpec | str) -> FaultSpec:
        """Swap the spec on a running server; the random sequence continues, it is not reset."""
        parsed = parse_fault_spec(spec) if isinstance(spec, str) else spec
        with self._lock:
            self._spec = parsed
        return parsed

    def decide(self, from_role: bool, *, only: frozenset[FaultKind] | None = None) -> Decision:
        """What happens to one request: an optional fault and a delay before answering.

        ``only`` limits the faults that may hit (``count_tokens`` takes backend faults only).
        """
        with self._lock:
            spec = self._spec
            side = spec.scope is FaultScope.ROLES and not from_role
            wanted = BACKEND_FAULTS if side else only
            eligible = {
                kind: p
                for kind, p in spec.probabilities.items()
                if wanted is None or kind in wanted
            }
            delay = 0.0 if side else spec.latency_s
            if not eligible:
                return Decision(delay_s=delay)
            draw = self._rng.random()
        edge = 0.0
        for kind in _KIND_ORDER:
            edge += eligible.get(kind, 0.0)
            if draw < edge:
                return Decision(kind, delay)
        return Decision(delay_s=delay)
