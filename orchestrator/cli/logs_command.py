"""``orch logs``: the daemon's JSON-lines log, filtered by track or run, as text or JSON."""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from orchestrator.cli.context import AppContext, emit_json
from orchestrator.domain.wo_rules import printable

#: How often ``-f`` looks for the log file or for new lines in it.
FOLLOW_POLL_S = 0.25
_HEADER_KEYS = frozenset({"event", "timestamp", "level"})


def logs(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines (waits for the log).")
    ] = False,
    track: Annotated[str | None, typer.Option(help="Only lines about this track.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only lines about this run.")] = None,
    lines: Annotated[
        int, typer.Option(min=0, help="Lines to show from the end (after filtering).")
    ] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: a list, or one object a line with -f.")
    ] = False,
) -> None:
    """Show the daemon's log (JSON lines under state/logs), filtered by track or run."""
    from orchestrator.log import LOG_FILE_NAME

    app_ctx: AppContext = ctx.obj
    # A filter on an id that does not exist would print nothing, forever with -f: refuse it.
    if track is not None:
        app_ctx.store.get_track(track)
    if run_id is not None:
        app_ctx.store.get_run(run_id)
    path = app_ctx.settings.logs_dir / LOG_FILE_NAME

    def wanted(entry: dict[str, Any]) -> bool:
        return (track is None or entry.get("track_id") == track) and (
            run_id is None or entry.get("run_id") == run_id
        )

    if not path.exists() and not follow:
        if as_json:
            emit_json([])
        else:
            app_ctx.console.print("No log yet.")
        return
    with _open_when_it_exists(path) as handle:
        tail = deque(_entries(handle, wanted), maxlen=lines) if lines else deque()
        if as_json and not follow:
            emit_json(list(tail))
            return
        for entry in tail:
            _write(entry, as_json)
        while follow:
            for entry in _entries(handle, wanted):
                _write(entry, as_json)
            time.sleep(FOLLOW_POLL_S)


def _open_when_it_exists(path: Path) -> IO[bytes]:
    """The log opened for reading; with ``-f`` before the daemon's first line, it waits."""
    while not path.exists():
        time.sleep(FOLLOW_POLL_S)
    # Binary: tell/seek are cheap, so a half-written last line can be read again later.
    return path.open("rb")


def _entries(handle: IO[bytes], wanted: Any) -> Iterator[dict[str, Any]]:
    """The complete, wanted entries from the handle's position on (a half-written last line
    is left for the next read)."""
    for raw in _complete_lines(handle):
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and wanted(entry):
            yield entry


def _complete_lines(handle: IO[bytes]) -> Iterable[str]:
    while True:
        start = handle.tell()
        raw = handle.readline()
        if not raw:
            return
        if not raw.endswith(b"\n"):
            handle.seek(start)
            return
        yield raw.decode("utf-8", errors="replace")


def _write(entry: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(entry, default=str, ensure_ascii=False) + "\n")
    else:
        extra = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _HEADER_KEYS)
        line = (
            f"{str(entry.get('timestamp', ''))[:19]} {entry.get('level', ''):7} "
            f"{entry.get('event', '')} {extra}"
        )
        # Log lines carry WO titles and agent text: never raw escape codes on a terminal.
        sys.stdout.write(printable(line) + "\n")
    sys.stdout.flush()
