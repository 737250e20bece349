"""The live view's facts: daemon, active runs with their latest tool calls, limits, parking,
run reports. The event journal itself streams from ``events_stream`` (Server-Sent Events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from orchestrator.domain.parking import current_parks
from orchestrator.service.reads import park_json
from orchestrator.web.transcript import tool_calls

if TYPE_CHECKING:
    from orchestrator.store.contract import Store

#: How often the stream looks for new events (SQLite has no notifications).
POLL_S = 0.2
#: A comment line this often keeps proxies and the browser from dropping an idle stream.
KEEPALIVE_S = 15.0


def run_reports(reports_dir: Path) -> list[dict[str, Any]]:
    """The run reports on disk, newest first."""
    if not reports_dir.is_dir():
        return []
    found = sorted(reports_dir.glob("*.md"), key=lambda p: p.name, reverse=True)
    return [{"name": p.name, "size": p.stat().st_size} for p in found]


def live_view(store: Store, reports_dir: Path) -> dict[str, Any]:
    """Everything the live page shows, as JSON (``/api/live``)."""
    lease = store.current_lease()
    running = store.lease_is_live(lease)
    limits = store.run_limits(lease.holder) if (lease is not None and running) else {}
    now = datetime.now(UTC)
    spent = None
    if limits.get("started_at"):
        spent = round(store.cost_since(datetime.fromisoformat(limits["started_at"])), 6)
    until = limits.get("until")
    time_left = (datetime.fromisoformat(until) - now).total_seconds() if until else None
    runs = []
    for run in store.active_runs():
        entries = store.session_entries(run["session_id"]) if run["session_id"] else []
        runs.append({**run, "tool_calls": tool_calls(entries)})
    return {
        "daemon": {"running": running, "pid": lease.pid if (lease and running) else None},
        "started_at": limits.get("started_at"),
        "until": until,
        "time_left_s": None if time_left is None else max(0, round(time_left)),
        "budget_usd": limits.get("budget_usd"),
        "cost_usd": spent,
        "runs": runs,
        "parked": [park_json(p) for p in current_parks(store.latest_parks(), running)],
        "requeued": [
            {"run": r.id, "wo": r.wo_id, "track": r.track_id, "error": r.error}
            for r in store.parked_runs()
        ],
        "reports": run_reports(reports_dir),
        "last_event": next((e.id for e in store.recent_events(1)), 0),
    }


async def events_stream(
    store: Store, after: int, disconnected: Callable[[], Any]
) -> AsyncIterator[str]:
    """New journal events as SSE messages (id: the event id, so a reconnect resumes)."""
    cursor = after
    quiet = 0.0
    while not await disconnected():
        events = await anyio.to_thread.run_sync(store.events_after, cursor)
        for event in events:
            cursor = event.id
            yield f"id: {event.id}\nevent: journal\ndata: {json.dumps(event.to_json())}\n\n"
        if events:
            quiet = 0.0
            continue
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await anyio.sleep(POLL_S)
        quiet += POLL_S
