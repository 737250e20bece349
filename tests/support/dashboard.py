"""A demo home for the dashboard's tests: the demo's setup plus a pending organizer proposal
(a new sub-track) and a WO whose title is markup, so escaping is visible."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.config import Settings, load_settings
from orchestrator.demo import DEMO_PROJECT, setup_demo
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.organization import OrganizeMode
from orchestrator.domain.proposal import validate_proposal
from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import ORCH_SCRIPT

MARKUP_TITLE = "<script>alert('x')</script> & <b>bold</b>"


@dataclass(frozen=True)
class DemoHome:
    root: Path
    home: Path
    settings: Settings
    proposal_id: int
    markup_wo: str


def build_demo_home(root: Path) -> DemoHome:
    setup = setup_demo(root)
    store = SQLiteStore.open(setup.settings.db_path)
    try:
        markup = store.add_work_order(
            DEMO_PROJECT, WorkOrder(id="", title=MARKUP_TITLE, tags=("auth",)), source="cli"
        )
        state = store.org_state(DEMO_PROJECT)
        proposal = validate_proposal(
            state,
            OrganizeMode.INCREMENTAL,
            {
                "tracks": [
                    {"key": "audit", "name": "auth-audit", "goal": "Audit", "parent": "auth"}
                ],
                "assignments": [{"wo_id": markup.id, "tracks": ["audit"]}],
                "recommendations": ["audit work apart from login work"],
            },
        )
        row = store.add_proposal(
            DEMO_PROJECT, OrganizeMode.INCREMENTAL, state.fingerprint(), proposal.to_json()
        )
        assert row.id is not None
    finally:
        store.close()
    return DemoHome(root, setup.home, setup.settings, row.id, markup.id)


def copy_demo_home(template: DemoHome, target: Path) -> DemoHome:
    """A private copy to change (the project repository stays the template's)."""
    shutil.copytree(template.root / "home", target / "home")
    home = target / "home"
    return DemoHome(target, home, load_settings(home), template.proposal_id, template.markup_wo)


#: Debian's Chromium; Playwright never downloads a browser of its own here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Served:
    """An ``orch`` process serving the dashboard, and the URL (with its token) it printed."""

    process: subprocess.Popen[str]
    url: str
    output: list[str]

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


@contextlib.contextmanager
def serving(home: Path, *args: str, timeout: float = 60.0) -> Iterator[Served]:
    """Run ``orch --home HOME ARGS...`` until it prints ``Dashboard: URL``; stop it after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    process = subprocess.Popen(
        [str(ORCH_SCRIPT), "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    url = None
    try:
        while url is None:
            left = deadline - time.monotonic()
            if left <= 0 or (process.poll() is not None and lines.empty()):
                raise AssertionError("no dashboard URL:\n" + "".join(output)[-3000:])
            try:
                line = lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line.startswith("Dashboard: "):
                url = line.split(" ", 1)[1].strip()
        yield Served(process, url, output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """A bounded wait on a condition (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
