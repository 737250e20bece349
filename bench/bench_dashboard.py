"""Benchmark of the dashboard (a script, not a test).

Two 10,000-WO homes: bench_store's (10 projects of 1,000 WOs, 80 tracks), and one project
holding all 10,000 WOs in 8 top-level tracks with a sub-track each (the tree's worst case).
Against the real app under uvicorn on 127.0.0.1 (HTTP client in this process), it prints:

- the tech tree and the WO list: server time per page (median of 20, after one warm-up)
  and page size;
- the live stream's delay from an event's commit (this process writes it) to its arrival
  in a real browser (Debian's Chromium through Playwright, on the live page): median and
  max of 20 events.

Usage::

    .venv/bin/python bench/bench_dashboard.py [--dir DIR] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import build_home, bulk_work_orders, git_repo, run_orch

from orchestrator.config import load_settings
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.web.serve import serving_beside

TOKEN = "bench-dashboard"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def build_one_project_home(root: Path) -> Path:
    """10,000 WOs in one project: 8 top-level tracks, each with one sub-track."""
    home = root / "home"
    run_orch(home, "init")
    git_repo(root / "repos" / "big")
    run_orch(home, "project", "add", str(root / "repos" / "big"), "--name", "big")
    store = SQLiteStore.open(home / "state" / "orchestrator.db")
    try:
        ids: list[str] = []
        for t in range(8):
            top = store.create_track("big", f"lane-{t}", "feature", goal=f"Lane {t}")
            sub = store.create_track("big", f"lane-{t}-sub", "feature", goal="Sub", parent=top.id)
            ids += [top.id, sub.id]
        bulk_work_orders(store, {"big": ids}, random.Random(7))
    finally:
        store.close()
    return home


def _wait_up(client: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get("/api/status").raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def time_pages(home: Path, port: int, pages: Sequence[str], runs: int) -> None:
    settings = load_settings(home)
    with serving_beside(settings, "127.0.0.1", port, TOKEN, lambda _url: None):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
        ) as client:
            _wait_up(client)
            for path in pages:
                client.get(path).raise_for_status()  # warm-up
                times, size = [], 0
                for _ in range(runs):
                    start = time.perf_counter()
                    response = client.get(path)
                    times.append(time.perf_counter() - start)
                    response.raise_for_status()
                    size = len(response.content)
                print(
                    f"  {path:<44} {statistics.median(times) * 1000:8.0f} ms median "
                    f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})  "
                    f"{size / 1024:8.0f} KiB"
                )


def stream_delay(home: Path, port: int, events: int) -> None:
    from playwright.sync_api import sync_playwright

    settings = load_settings(home)
    store = SQLiteStore.open(settings.db_path)
    committed: dict[int, float] = {}
    with serving_beside(settings, "127.0.0.1", port, TOKEN, lambda _url: None):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            client.headers["Authorization"] = f"Bearer {TOKEN}"
            _wait_up(client)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/live?token={TOKEN}")
            page.wait_for_function("document.getElementById('stream-state').textContent == 'live'")
            for n in range(events):
                store.note_run_limits(f"bench-{n}", None, None)
                committed_at = time.time() * 1000
                newest = store.recent_events(1)[0].id
                committed[newest] = committed_at
                page.wait_for_function(
                    "id => window.orchArrivals.some(a => a.id === id)", arg=newest, timeout=10_000
                )
                time.sleep(0.3)  # events apart, so each delay is one event's own
            arrivals = page.evaluate("window.orchArrivals")
            browser.close()
    store.close()
    delays = [a["arrived"] - committed[a["id"]] for a in arrivals if a["id"] in committed]
    print(
        f"  commit -> browser: median {statistics.median(delays):.0f} ms, "
        f"max {max(delays):.0f} ms over {len(delays)} events (poll every 200 ms)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="orch-bench-dashboard-"))
    spread, single = root / "spread", root / "single"
    if not (spread / "home").exists():
        build_home(spread)
    if not (single / "home").exists():
        build_one_project_home(single)
    print(f"homes under {root}")
    print("10 projects x 1,000 WOs (80 tracks):")
    time_pages(
        spread / "home",
        args.port,
        ["/tree?project=p0", "/wos", "/wos?track=p0-t0", "/api/work-orders"],
        args.runs,
    )
    print("1 project x 10,000 WOs (8 lanes, 8 sub-tracks):")
    time_pages(single / "home", args.port, ["/tree", "/wos", "/wos?track=lane-0"], args.runs)
    print("live stream:")
    stream_delay(single / "home", args.port, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
