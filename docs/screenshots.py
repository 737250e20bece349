"""Take the README's dashboard screenshots: the tech tree and the review screen of a demo run.

    .venv/bin/python docs/screenshots.py [DEMO_DIR]

DEMO_DIR is a finished `orch demo --dir DEMO_DIR` (made here if missing, which takes a few
minutes with the simulator). A sub-track and a pending organizer proposal are added so both
views show what they can. Chromium is Debian's (/usr/bin/chromium), never a downloaded one.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from orchestrator.config import load_settings
from orchestrator.demo import DEMO_PROJECT
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.organization import OrganizeMode
from orchestrator.domain.proposal import validate_proposal
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.web.serve import serving_beside

DOCS = Path(__file__).resolve().parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TOKEN = "screenshots"
PORT = 8777


def _prepare(home: Path) -> int:
    store = SQLiteStore.open(load_settings(home).db_path)
    try:
        if not any(t["id"] == "auth-audit" for t in store.list_tracks()):
            store.create_track(DEMO_PROJECT, "auth-audit", "feature", goal="Audit", parent="auth")
            audit = store.add_work_order(
                DEMO_PROJECT, WorkOrder(id="", title="Auth: audit log of logins"), source="cli"
            )
            store.assign("auth-audit", [audit.id])
        store.refresh_stale(DEMO_PROJECT)
        pending = store.list_proposals(DEMO_PROJECT, "pending")
        if pending and pending[0].id is not None:
            return pending[0].id
        rounding = store.add_work_order(
            DEMO_PROJECT,
            WorkOrder(id="", title="Economy: round currency once, at display"),
            source="cli",
        )
        state = store.org_state(DEMO_PROJECT)
        proposal = validate_proposal(
            state,
            OrganizeMode.INCREMENTAL,
            {
                "tracks": [
                    {"key": "money", "name": "economy-rounding", "goal": "Rounding rules",
                     "parent": "economy"},
                ],
                "assignments": [{"wo_id": rounding.id, "tracks": ["money"]}],
                "recommendations": ["rounding is its own concern inside economy"],
            },
        )  # fmt: skip
        row = store.add_proposal(
            DEMO_PROJECT, OrganizeMode.INCREMENTAL, state.fingerprint(), proposal.to_json()
        )
        assert row.id is not None
        return row.id
    finally:
        store.close()


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/orch-screenshots").resolve()
    if not (root / "home").exists():
        orch = Path(sys.executable).with_name("orch")
        subprocess.run([str(orch), "demo", "--dir", str(root)], check=True)
    home = root / "home"
    proposal_id = _prepare(home)
    base = f"http://127.0.0.1:{PORT}"
    with serving_beside(load_settings(home), "127.0.0.1", PORT, TOKEN, print):
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/static/dashboard.css", timeout=2)
            except OSError as exc:
                if "401" in str(exc):
                    break
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{base}/tree?token={TOKEN}")
            page.screenshot(path=str(DOCS / "dashboard-tree.png"))
            page.set_viewport_size({"width": 1280, "height": 420})
            page.goto(f"{base}/review/{proposal_id}")
            page.screenshot(path=str(DOCS / "dashboard-review.png"))
            browser.close()
    print(f"wrote {DOCS / 'dashboard-tree.png'} and {DOCS / 'dashboard-review.png'}")


if __name__ == "__main__":
    main()
