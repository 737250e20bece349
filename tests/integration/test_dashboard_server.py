"""The dashboard over a demo home, through its ASGI app (no browser): every page and API
route, the CLI's shapes, the tech tree, escaping, the token and the Origin check."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.store.sqlite_store import SQLiteStore
from orchestrator.web.app import create_app
from orchestrator.web.security import COOKIE
from tests.conftest import run_main
from tests.support.dashboard import MARKUP_TITLE, DemoHome, build_demo_home, copy_demo_home

pytestmark = pytest.mark.integration

TOKEN = "test-token-0123456789"
ORIGIN = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    return build_demo_home(tmp_path_factory.mktemp("dashboard-demo"))


def _client(home: DemoHome) -> TestClient:
    return TestClient(create_app(home.settings, TOKEN), base_url=ORIGIN)


@pytest.fixture
def client(demo: DemoHome) -> Iterator[TestClient]:
    """Signed in (bearer token) on the shared demo home: reads only."""
    with _client(demo) as c:
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield c


@pytest.fixture
def own(demo: DemoHome, tmp_path: Path) -> DemoHome:
    return copy_demo_home(demo, tmp_path)


def _signed_in(home: DemoHome) -> TestClient:
    c = _client(home)
    c.headers["Authorization"] = f"Bearer {TOKEN}"
    return c


def cli_json(home: DemoHome, *args: str) -> Any:
    result = run_main(["--home", str(home.home), *args, "--json"])
    assert result.code == 0, str(result)
    return result.json


def test_every_page_and_api_route_answers_200(client: TestClient, demo: DemoHome) -> None:
    experiment = client.get("/api/experiments").json()[0]["id"]
    paths = [
        "/tree",
        "/tree?project=demo-app",
        "/wos",
        "/wos?track=auth&status=backlog&tag=auth&q=login",
        f"/wo/{demo.markup_wo}",
        "/wo/WO-2026-001",
        "/tracks",
        "/review",
        f"/review/{demo.proposal_id}",
        "/experiments",
        "/live",
        "/api/status",
        "/api/work-orders",
        "/api/work-orders?track=auth",
        "/api/work-orders/WO-2026-001",
        "/api/tracks",
        "/api/tracks/auth",
        "/api/proposals",
        f"/api/proposals/{demo.proposal_id}",
        "/api/experiments",
        f"/api/experiments/{experiment}",
        "/api/live",
        "/api/events",
        "/openapi.json",
        "/static/dashboard.css",
        "/static/live.js",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    schema_paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/api/status", "/api/work-orders", "/api/proposals/{proposal_id}/approve"} <= (
        schema_paths
    )


def test_the_api_returns_the_cli_json_shapes(client: TestClient, demo: DemoHome) -> None:
    experiment = client.get("/api/experiments").json()[0]["id"]
    pairs = [
        ("/api/work-orders", ("wo", "list")),
        ("/api/work-orders?track=auth", ("wo", "list", "--track", "auth")),
        ("/api/work-orders?status=ready", ("wo", "list", "--status", "ready")),
        ("/api/work-orders/WO-2026-001", ("wo", "show", "WO-2026-001")),
        ("/api/tracks", ("track", "list")),
        ("/api/tracks/auth", ("track", "show", "auth")),
        ("/api/proposals", ("review", "list")),
        (f"/api/proposals/{demo.proposal_id}", ("review", "show", str(demo.proposal_id))),
        ("/api/experiments", ("experiment", "list")),
        (f"/api/experiments/{experiment}", ("experiment", "show", experiment)),
        ("/api/status", ("status",)),
    ]
    for path, args in pairs:
        assert client.get(path).json() == cli_json(demo, *args), path


def test_the_tech_tree_has_at_most_8_track_lanes_and_every_wo_once(
    client: TestClient, demo: DemoHome
) -> None:
    page = client.get("/tree").text
    kinds = re.findall(r'<g class="lane" data-kind="([a-z]+)"', page)
    assert 1 <= kinds.count("track") <= 8
    nodes = re.findall(r'<a href="/wo/[^"]+" class="node [^"]*" data-wo="([^"]+)"', page)
    wanted = {w["id"] for w in client.get("/api/work-orders?project=demo-app").json()}
    assert sorted(nodes) == sorted(wanted)
    assert len(nodes) == len(set(nodes))


def test_wo_text_is_escaped_everywhere(client: TestClient, demo: DemoHome) -> None:
    for path in ("/tree", "/wos", f"/wo/{demo.markup_wo}", f"/review/{demo.proposal_id}"):
        body = client.get(path).text
        assert "<script>alert" not in body, path
        assert "<b>bold</b>" not in body, path
    assert "&lt;script&gt;alert" in client.get(f"/wo/{demo.markup_wo}").text
    assert "&lt;script&gt;alert" in client.get("/tree").text
    assert client.get(f"/api/work-orders/{demo.markup_wo}").json()["title"] == MARKUP_TITLE


def test_without_the_token_nothing_is_read_or_changed(demo: DemoHome) -> None:
    with _client(demo) as anonymous:
        for path in ("/tree", "/wos", "/api/status", "/api/work-orders", "/openapi.json"):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.get("/tree", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anonymous.get("/tree?token=wrong", follow_redirects=False).status_code == 401
        refused = anonymous.post(
            f"/api/proposals/{demo.proposal_id}/approve", headers={"Origin": ORIGIN}
        )
        assert refused.status_code == 401
    assert cli_json(demo, "review", "list")[0]["status"] == "pending"


def test_the_token_once_then_an_httponly_strict_cookie(demo: DemoHome) -> None:
    with _client(demo) as browser:
        first = browser.get(f"/wos?token={TOKEN}&status=ready", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/wos?status=ready"  # the token leaves the URL
        cookie = first.headers["set-cookie"]
        assert f"{COOKIE}={TOKEN}" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert browser.get("/wos?status=ready").status_code == 200  # the cookie is enough


def test_a_state_change_needs_post_and_this_origin(own: DemoHome) -> None:
    path = f"/api/proposals/{own.proposal_id}/approve"
    with _signed_in(own) as c:
        assert c.get(path).status_code == 405
        assert c.post(path, headers={"Origin": "http://evil.example"}).status_code == 403
        assert c.post(path).status_code == 403  # no Origin at all
        assert (
            c.post(f"/review/{own.proposal_id}/approve", headers={"Origin": "null"}).status_code
            == 403
        )
        assert cli_json(own, "review", "list")[0]["status"] == "pending"
        done = c.post(path, headers={"Origin": ORIGIN})
        assert done.status_code == 200, done.text
    assert cli_json(own, "review", "list")[0]["status"] == "approved"
    assert "auth-audit" in {t["id"] for t in cli_json(own, "track", "list")}


def test_the_review_page_shows_the_cli_diff_and_approves(own: DemoHome) -> None:
    shown = run_main(["--home", str(own.home), "review", "show", str(own.proposal_id)])
    with _signed_in(own) as c:
        page = c.get(f"/review/{own.proposal_id}").text
        for line in shown.out.splitlines():
            assert _html(line.rstrip()) in page, line
        done = c.post(
            f"/review/{own.proposal_id}/approve", headers={"Origin": ORIGIN}, follow_redirects=True
        )
        assert done.status_code == 200
        assert "Approved" in done.text
        assert 'id="proposal-status">approved' in done.text
        again = c.post(
            f"/review/{own.proposal_id}/approve", headers={"Origin": ORIGIN}, follow_redirects=True
        )
        assert "already approved" in again.text


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
    )


def test_reject_from_the_page_keeps_the_reason(own: DemoHome) -> None:
    with _signed_in(own) as c:
        c.post(
            f"/review/{own.proposal_id}/reject",
            data={"reason": "not now"},
            headers={"Origin": ORIGIN},
        )
    assert cli_json(own, "review", "list")[0]["status"] == "rejected"


def test_track_buttons_move_the_track_as_the_cli_would(own: DemoHome) -> None:
    store = SQLiteStore.open(own.settings.db_path)
    try:
        store.create_track("demo-app", "later", "feature", goal="Later")
    finally:
        store.close()
    with _signed_in(own) as c:
        assert 'action="/tracks/later/ready"' in c.get("/tracks").text
        moved = c.post("/tracks/later/ready", headers={"Origin": ORIGIN}, follow_redirects=True)
        assert "Track later is now ready" in moved.text
        assert cli_json(own, "track", "show", "later")["status"] == "ready"
        refused = c.post("/tracks/later/pause", headers={"Origin": ORIGIN}, follow_redirects=True)
        assert 'role="alert"' in refused.text  # ready -> paused is no legal move
        assert cli_json(own, "track", "show", "later")["status"] == "ready"
        api = c.post("/api/tracks/later/pause", headers={"Origin": ORIGIN})
        assert api.status_code == 409 and "error" in api.json()
        _set_status(own, "later", TrackStatus.ACTIVE)
        assert 'action="/tracks/later/pause"' in c.get("/tracks").text
        c.post("/tracks/later/pause", headers={"Origin": ORIGIN})
        assert cli_json(own, "track", "show", "later")["status"] == "paused"
        resumed = c.post("/api/tracks/later/resume", headers={"Origin": ORIGIN})
        assert resumed.json() == cli_json(own, "track", "show", "later")
        assert resumed.json()["status"] == "active"


def _set_status(home: DemoHome, track: str, status: TrackStatus) -> None:
    store = SQLiteStore.open(home.settings.db_path)
    try:
        store.set_track_status(track, status, reason="test")
    finally:
        store.close()


def test_bad_input_is_one_clear_error(client: TestClient) -> None:
    assert client.get("/api/work-orders/not-an-id").status_code == 422  # by the schema
    assert client.get("/api/work-orders/WO-1999-999").status_code == 404
    assert client.get("/api/tracks/nope").json() == {"error": "unknown track 'nope'"}
    assert client.get("/api/work-orders?status=nope").status_code == 422
    assert client.get("/api/work-orders?project=nope").status_code == 404
    assert client.get("/wos?status=nope").status_code == 400
    assert client.get("/wo/not-an-id").status_code == 400
    assert client.get("/wo/WO-1999-999").status_code == 404
    assert client.get("/reports/..%2F..%2Fconfig%2Forchestrator.toml").status_code == 404


def test_a_non_loopback_bind_without_a_token_is_refused(demo: DemoHome) -> None:
    result = run_main(["--home", str(demo.home), "dashboard", "--host", "0.0.0.0"])
    assert result.code == 2
    assert result.err.count("\n") == 1 and "--token" in result.err
    assert "Traceback" not in result.err


def test_the_read_commands_do_not_load_the_web_stack(demo: DemoHome) -> None:
    probe = (
        "import sys\n"
        "from orchestrator.cli.main import main\n"
        "for argv in (['status'], ['wo', 'list'], ['track', 'list'], ['review', 'list']):\n"
        "    try:\n"
        f"        main(['--home', {str(demo.home)!r}, *argv, '--json'])\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "web = ('fastapi', 'starlette', 'jinja2', 'uvicorn')\n"
        "loaded = sorted(m for m in web if m in sys.modules)\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert "LOADED []" in done.stdout, done.stdout[-500:] + done.stderr[-2000:]
