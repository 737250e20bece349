"""The dashboard in a real browser: Playwright driving Debian's Chromium (never a downloaded
one) against `orch dashboard` and `orch run --dashboard` as real processes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import OrchRunner
from tests.support.dashboard import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoHome,
    build_demo_home,
    copy_demo_home,
    serving,
    wait_until,
)

pytestmark = pytest.mark.integration

#: Scores a variant by the number its (simulated) worker wrote into wo/*.py.
EVAL_SCRIPT = r"""
import pathlib, re
text = "".join(p.read_text() for p in sorted(pathlib.Path("wo").glob("*.py")))
number = int(re.search(r"^HYPOTHESIS = .*?(\d+)", text, re.M).group(1))
print('{"speed": %d}' % number)
"""
WAIT_S = 30_000  # Playwright's waits, ms


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    return build_demo_home(tmp_path_factory.mktemp("browser-demo"))


@pytest.fixture
def demo(demo_template: DemoHome, tmp_path: Path) -> DemoHome:
    return copy_demo_home(demo_template, tmp_path)


def _rows(db: Path, sql: str) -> list[Any]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_tech_tree_loads_with_its_lanes_and_nodes(page: Page, demo: DemoHome) -> None:
    with serving(demo.home, "dashboard", "--port", "0") as served:
        page.goto(served.url)
        expect(page.locator("svg.techtree")).to_be_visible(timeout=WAIT_S)
        assert page.url.endswith("/tree")  # the token left the URL for the cookie
        lanes = page.locator('svg.techtree g.lane[data-kind="track"]')
        assert 1 <= lanes.count() <= 8
        expect(page.locator('svg.techtree a.node[data-wo="WO-2026-001"]')).to_have_count(1)
        page.locator('svg.techtree a.node[data-wo="WO-2026-001"]').click()
        expect(page.locator("h1")).to_contain_text("WO-2026-001", timeout=WAIT_S)


def test_the_wo_list_filters_by_track(page: Page, demo: DemoHome) -> None:
    with serving(demo.home, "dashboard", "--port", "0") as served:
        page.goto(served.url.replace("/tree?", "/wos?"))
        all_rows = page.locator("#wo-table tbody tr").count()
        page.select_option('select[name="track"]', "auth")
        page.click("#wo-filters button")
        expect(page.locator("#wo-count")).to_contain_text("work orders", timeout=WAIT_S)
        page.wait_for_url("**/wos?*track=auth*", timeout=WAIT_S)
        shown = page.locator("#wo-table tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.wo)"
        )
    expected = _rows(demo.settings.db_path, "SELECT wo_id FROM wo_tracks WHERE track_id = 'auth'")
    assert sorted(shown) == sorted(r[0] for r in expected)
    assert 0 < len(shown) < all_rows


def test_a_proposal_is_approved_from_the_page(page: Page, demo: DemoHome) -> None:
    db = demo.settings.db_path
    with serving(demo.home, "dashboard", "--port", "0") as served:
        page.goto(served.url.replace("/tree?", "/review?"))
        page.click(f'a[href="/review/{demo.proposal_id}"]')
        expect(page.locator("#proposal-diff")).to_contain_text("+ auth-audit", timeout=WAIT_S)
        assert _rows(db, "SELECT status FROM track_proposals")[0][0] == "pending"
        page.click('button:has-text("Approve")')
        expect(page.locator("#proposal-status")).to_have_text("approved", timeout=WAIT_S)
        page.screenshot(path=str(demo.root / "review.png"))
    assert _rows(db, "SELECT status FROM track_proposals")[0][0] == "approved"
    assert _rows(db, "SELECT parent_track_id FROM tracks WHERE id = 'auth-audit'") == [("auth",)]
    assert (demo.root / "review.png").stat().st_size > 10_000


@pytest.fixture
def race_home(home: Path, orch: OrchRunner, make_repo: Callable[..., Path]) -> Path:
    """Two plain WOs in a track and a manual experiment of two variants."""
    repo = make_repo("demo", {"README.md": "hello\n", "eval/score.py": EVAL_SCRIPT})
    orch.ok("project", "add", repo)
    for title in ("First step", "Second step"):
        orch.ok("wo", "add", "--title", title, "--tag", "steps")
    orch.ok("track", "create", "--project", "demo", "--name", "steps", "--type", "feature")
    ids = [w["id"] for w in orch.json("wo", "list")]
    orch.ok("track", "assign", "steps", *ids)
    orch.ok("track", "ready", "steps")
    orch.ok(
        "experiment", "start", "--project", "demo", "--name", "pick",
        "--hypothesis", "try 2", "--hypothesis", "try 8",
        "--eval", "python3 eval/score.py", "--metric", "speed", "--eval-runs", "1",
        "--decide", "manual", "--goal", "Pick by hand",
    )  # fmt: skip
    return home


@pytest.mark.timeout(600)
def test_live_events_arrive_while_the_daemon_runs_then_a_manual_decision(
    page: Page, race_home: Path, orch: OrchRunner
) -> None:
    db = race_home / "state" / "orchestrator.db"
    args = ("run", "--dashboard", "--port", "0", "--model-backend", "sim", "--exit-when-idle")
    with serving(race_home, *args, timeout=120) as served:
        page.goto(served.url.replace("/tree?", "/live?"))
        expect(page.locator("#stream-state")).to_have_text("live", timeout=WAIT_S)
        first = int(page.locator("#events").get_attribute("data-after") or "0")
        # Events committed by the running daemon after the page loaded reach it by the stream.
        page.wait_for_function(
            "n => [...document.querySelectorAll('#events li')]"
            ".some(li => Number(li.dataset.event) > n && li.textContent.includes('run_started'))",
            arg=first,
            timeout=120_000,
        )
        arrived = page.evaluate("window.orchArrivals.map(a => a.id)")
        wait_until(lambda: served.process.poll() is not None, 420, "the daemon to go idle")
    assert served.process.returncode == 0, "".join(served.output)[-3000:]
    journal = {row[0] for row in _rows(db, f"SELECT id FROM events WHERE id > {first}")}
    assert arrived and set(arrived) <= journal
    assert arrived == sorted(arrived)
    shown = orch.json("experiment", "show", "pick")
    assert shown["status"] == "deciding" and shown["winner"] is None

    with serving(race_home, "dashboard", "--port", "0") as served:
        page.goto(served.url.replace("/tree?", "/experiments?"))
        section = page.locator('section[data-experiment="pick"]')
        expect(section.locator(".variant")).to_have_count(2, timeout=WAIT_S)
        expect(section.locator('.variant[data-variant="pick-b"]')).to_contain_text("8")
        section.locator('select[name="winner"]').select_option("pick-a")
        section.locator('input[name="reason"]').fill("simpler")
        section.locator('button:has-text("Decide")').click()
        expect(page.locator(".notice")).to_contain_text("pick-a wins", timeout=120_000)
        expect(section.locator(".variant.winner")).to_have_attribute("data-variant", "pick-a")
    shown = orch.json("experiment", "show", "pick")
    assert shown["status"] == "merged" and shown["winner"] == "pick-a"
    assert shown["decided_by"] == "manual" and shown["decision_reason"] == "simpler"
    assert json.dumps(shown["adr"])
