"""Track and work order lifecycles: every status change goes through :func:`check_transition`.

The track lifecycle is the one drawn in seeds/001 (Conductor)::

    draft -> ready -> active -> completed -> archived
    draft -> cancelled       active <-> paused (pause / resume)
    ready -> failed          paused -> failed -> cancelled
                             paused -> cancelled (not drawn: see below)

A track that is *blocked* (for example by a merge conflict) is ``paused`` with a
``blocked_reason``; ``failed`` is reached from ``paused``, as drawn (``orch track fail`` of
an active track walks it through ``paused``). Every state is reached by a command: create
(draft), ready, activate or the daemon (active), pause, resume, complete, archive, fail,
cancel; tests/integration/test_cli_lifecycle.py walks them all.

``paused -> cancelled`` is our one addition: a losing experiment variant did not fail, and
walking it through ``failed`` would write a failure into its history and the report. A
variant is paused when its experiment is decided, then cancelled (branch kept).

Work orders: ``blocked -> done`` is how an experiment's original WOs end: blocked while
their variants carry copies of them, done (pointing at the winner's merge) when one won.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from orchestrator.domain.errors import IllegalTransitionError


class TrackStatus(StrEnum):
    DRAFT = "draft"
    READY = "ready"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"


class WOStatus(StrEnum):
    BACKLOG = "backlog"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PARKED = "parked"
    RESUMED = "resumed"


_TS = TrackStatus
TRACK_TRANSITIONS: dict[TrackStatus, frozenset[TrackStatus]] = {
    _TS.DRAFT: frozenset({_TS.READY, _TS.CANCELLED}),
    _TS.READY: frozenset({_TS.ACTIVE, _TS.FAILED}),
    _TS.ACTIVE: frozenset({_TS.COMPLETED, _TS.PAUSED}),
    _TS.PAUSED: frozenset({_TS.ACTIVE, _TS.FAILED, _TS.CANCELLED}),
    _TS.COMPLETED: frozenset({_TS.ARCHIVED}),
    _TS.FAILED: frozenset({_TS.CANCELLED}),
    _TS.CANCELLED: frozenset(),
    _TS.ARCHIVED: frozenset(),
}

_WS = WOStatus
WO_TRANSITIONS: dict[WOStatus, frozenset[WOStatus]] = {
    _WS.BACKLOG: frozenset({_WS.READY, _WS.BLOCKED, _WS.CANCELLED}),
    _WS.READY: frozenset({_WS.RUNNING, _WS.BACKLOG, _WS.BLOCKED, _WS.CANCELLED}),
    # running -> ready: the run was interrupted or will be retried; the WO goes back in line.
    _WS.RUNNING: frozenset({_WS.DONE, _WS.FAILED, _WS.READY, _WS.BLOCKED}),
    _WS.DONE: frozenset(),
    _WS.FAILED: frozenset({_WS.READY, _WS.BACKLOG, _WS.CANCELLED}),
    # blocked -> done: an experiment's original WO, carried out by the winning variant.
    _WS.BLOCKED: frozenset({_WS.READY, _WS.BACKLOG, _WS.CANCELLED, _WS.DONE}),
    _WS.CANCELLED: frozenset({_WS.BACKLOG}),
}

#: Track statuses in which the daemon may start work on a track.
DISPATCHABLE_TRACK_STATUSES = frozenset({TrackStatus.ACTIVE})
#: Track statuses that still hold a worktree.
LIVE_TRACK_STATUSES = frozenset({TrackStatus.ACTIVE, TrackStatus.PAUSED})

S = TypeVar("S", TrackStatus, WOStatus)


def check_transition(kind: str, subject: str, current: S, target: S) -> S:
    """Return ``target`` when ``current -> target`` is legal for ``kind``, else raise.

    ``kind`` is "track" or "work order"; ``subject`` names the object in the message.
    """
    table: dict[S, frozenset[S]]
    table = TRACK_TRANSITIONS if isinstance(current, TrackStatus) else WO_TRANSITIONS
    if target not in table[current]:
        allowed = ", ".join(sorted(s.value for s in table[current])) or "none (final)"
        raise IllegalTransitionError(
            f"{kind} {subject} cannot go from {current.value} to {target.value} "
            f"(allowed from {current.value}: {allowed})"
        )
    return target
