"""The simulator over HTTP: SSE and JSON shapes, errors, stats, and faults on the wire."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.domain.payload import render_payload, role_line
from orchestrator.domain.roles import Role, allowed_tools
from orchestrator.sim import SimServer
from orchestrator.sim.reply import input_tokens

TIMEOUT = 10.0


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer() as server:
        yield server


def worker_body(stream: bool = True) -> dict[str, Any]:
    payload = {
        "kind": "work_order",
        "wo": {"id": "WO-2025-001", "title": "t"},
        "worktree": "/work/wt",
        "check_command": "pytest -q",
    }
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "stream": stream,
        "system": [{"type": "text", "text": role_line(Role.WORKER)}],
        "tools": [{"name": n, "input_schema": {}} for n in allowed_tools(Role.WORKER)],
        "messages": [{"role": "user", "content": "Work.\n" + render_payload(payload)}],
    }


def side_body(stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "stream": stream,
        "system": "Write a title.",
        "messages": [{"role": "user", "content": "hello"}],
    }


def request(
    sim: SimServer,
    method: str,
    path: str,
    body: dict[str, Any] | bytes | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(method, path, body=data, headers={"content-type": "application/json"})
        response = conn.getresponse()
        try:
            payload = response.read()
        except http.client.IncompleteRead as exc:
            payload = exc.partial
        return response.status, response.headers, payload
    finally:
        conn.close()


def sse(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in data.decode().split("\n\n"):
        if not chunk.strip():
            continue
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def assert_api_error(status: int, data: bytes, expected_status: int, kind: str) -> None:
    assert status == expected_status
    body = json.loads(data)
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


# -- shapes ---------------------------------------------------------------------------------------


def test_stream_follows_the_api_event_order(sim: SimServer) -> None:
    status, headers, data = request(sim, "POST", "/v1/messages?beta=true", worker_body())
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = sse(data)
    names = [e for e, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] > 0
    assert start["usage"]["cache_creation_input_tokens"] == 0
    assert start["usage"]["cache_read_input_tokens"] == 0
    # Rebuild the tool calls from the deltas: the input JSON arrives in several pieces.
    blocks: dict[int, dict[str, Any]] = {}
    for name, data_ in events:
        if name == "content_block_start":
            blocks[data_["index"]] = dict(data_["content_block"], json="")
        elif name == "content_block_delta":
            assert data_["delta"]["type"] == "input_json_delta"
            blocks[data_["index"]]["json"] += data_["delta"]["partial_json"]
    assert [b["name"] for b in blocks.values()] == ["Write", "Write"]
    inputs = [json.loads(b["json"]) for b in blocks.values()]
    assert inputs[0]["file_path"] == "/work/wt/wo/wo_2025_001.py"
    assert names.count("content_block_delta") > 2
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] > 0


def test_json_answer_for_a_side_request(sim: SimServer) -> None:
    status, headers, data = request(sim, "POST", "/v1/messages", side_body())
    assert status == 200
    assert headers["content-type"] == "application/json"
    message = json.loads(data)
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["id"].startswith("msg_")
    assert message["model"] == "claude-haiku-4-5"
    assert message["content"] == [{"type": "text", "text": "OK."}]
    assert message["stop_reason"] == "end_turn"
    assert set(message["usage"]) >= {"input_tokens", "output_tokens", "cache_read_input_tokens"}


def test_count_tokens_uses_the_usage_estimate(sim: SimServer) -> None:
    body = worker_body()
    status, _, data = request(sim, "POST", "/v1/messages/count_tokens?beta=true", body)
    assert status == 200
    assert json.loads(data) == {"input_tokens": input_tokens(body)}
    assert sim.stats()["count_tokens_requests"] == 1
    assert sim.stats()["requests"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{bad json",
        b"",
        b"\xff\xfe",
        b"[]",
        {"model": "m"},
        {"model": "m", "messages": []},
        {"model": "m", "messages": "hi"},
        {"model": "m", "messages": [{"role": "robot", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        {"model": "m", "messages": [{"role": "user", "content": ["x"]}]},
        {"model": 5, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "system": 5, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "tools": {}, "messages": [{"role": "user", "content": "hi"}]},
    ],
)
def test_malformed_requests_get_400_and_the_server_lives_on(
    sim: SimServer, body: dict[str, Any] | bytes
) -> None:
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        status, _, data = request(sim, "POST", path, body)
        assert_api_error(status, data, 400, "invalid_request_error")
    assert request(sim, "POST", "/v1/messages", side_body())[0] == 200
    assert sim.stats()["bad_requests"] == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("POST", "/v1/complete"),
        ("DELETE", "/v1/messages"),
        ("PUT", "/v1/messages"),
        ("OPTIONS", "/v1/messages"),
        ("GET", "/"),
    ],
)
def test_unknown_routes_get_404_in_the_api_shape(sim: SimServer, method: str, path: str) -> None:
    status, _, data = request(sim, method, path)
    assert_api_error(status, data, 404, "not_found_error")


def test_head_gets_a_bare_404(sim: SimServer) -> None:
    status, _, data = request(sim, "HEAD", "/v1/messages")
    assert (status, data) == (404, b"")


# -- stats ----------------------------------------------------------------------------------------


def test_stats_count_requests_and_tokens_per_role(sim: SimServer) -> None:
    request(sim, "POST", "/v1/messages", worker_body())
    request(sim, "POST", "/v1/messages", worker_body(stream=False))
    request(sim, "POST", "/v1/messages", side_body())
    stats = sim.stats()
    assert stats["requests"] == 3
    assert set(stats["roles"]) == {"worker", "other"}
    worker = stats["roles"]["worker"]
    assert worker["requests"] == 2
    assert worker["input_tokens"] == 2 * input_tokens(worker_body())
    assert worker["output_tokens"] > 0
    assert stats["input_tokens"] == worker["input_tokens"] + stats["roles"]["other"]["input_tokens"]
    status, _, data = request(sim, "GET", "/_sim/stats")
    assert status == 200
    assert json.loads(data) == stats
    bodies = sim.requests(Role.WORKER)
    assert len(bodies) == 2 and bodies[0]["messages"] == worker_body()["messages"]
    assert sim.requests("worker") == bodies
    assert len(sim.requests(None)) == 1
    assert sim.requests(Role.JUDGE) == []


def test_request_history_is_bounded() -> None:
    with SimServer(keep_requests=2) as sim:
        for _ in range(4):
            request(sim, "POST", "/v1/messages", side_body())
        assert len(sim.requests()) == 2
        assert sim.stats()["requests"] == 4


# -- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "status", "kind", "retry_after"),
    [
        ("429:1.0", 429, "rate_limit_error", "1"),
        ("529:1.0", 529, "overloaded_error", "1"),
        ("500:1.0", 500, "api_error", None),
    ],
)
def test_error_faults(spec: str, status: int, kind: str, retry_after: str | None) -> None:
    with SimServer(faults=spec) as sim:
        got, headers, data = request(sim, "POST", "/v1/messages", worker_body())
        assert_api_error(got, data, status, kind)
        assert headers.get("retry-after") == retry_after
        # The default scope spares side requests.
        assert request(sim, "POST", "/v1/messages", side_body())[0] == 200
        stats = sim.stats()
        assert stats["faults"] == {str(status): 1}
        assert stats["roles"]["worker"] == {"requests": 1, "input_tokens": 0, "output_tokens": 0}


def test_a_refused_key_hits_every_request_side_ones_and_count_tokens_too() -> None:
    with SimServer(faults="401:1.0") as sim:
        for path, body in (
            ("/v1/messages", worker_body()),
            ("/v1/messages", side_body()),
            ("/v1/messages/count_tokens", side_body()),
        ):
            got, headers, data = request(sim, "POST", path, body)
            assert_api_error(got, data, 401, "authentication_error")
            assert headers.get("retry-after") is None
        assert sim.stats()["faults"] == {"401": 3}


def test_a_down_backend_hangs_up_without_an_answer() -> None:
    with SimServer(faults="down:1.0") as sim:
        for path in ("/v1/messages", "/v1/messages/count_tokens"):
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                request(sim, "POST", path, side_body())
        assert sim.stats()["faults"] == {"down": 2}


def test_cut_stream_ends_before_message_stop() -> None:
    with SimServer(faults="cut:1.0") as sim:
        status, _, data = request(sim, "POST", "/v1/messages", worker_body())
        assert status == 200
        names = [e for e, _ in sse(data)]
        assert names[0] == "message_start"
        assert "message_stop" not in names and "message_delta" not in names
        stats = sim.stats()
        assert stats["faults"] == {"cut": 1}
        # message_start went out, so its input tokens count; no output was delivered.
        assert stats["input_tokens"] == input_tokens(worker_body())
        assert stats["output_tokens"] == 0


def test_cut_json_answer_is_truncated() -> None:
    with SimServer(faults="cut:1.0") as sim:
        status, _, data = request(sim, "POST", "/v1/messages", worker_body(stream=False))
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(data)


def test_stall_holds_the_request_until_the_server_stops() -> None:
    sim = SimServer(faults="stall:1.0").start()
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["status"] = request(sim, "POST", "/v1/messages", worker_body(), timeout=30)[0]
        except (http.client.HTTPException, OSError) as exc:
            outcome["error"] = exc

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + TIMEOUT
    while sim.stats()["faults"].get("stall") != 1:
        assert time.monotonic() < deadline, "the stalled request never arrived"
        time.sleep(0.02)
    time.sleep(0.3)
    assert caller.is_alive(), "a stalled request must not be answered"
    started = time.monotonic()
    sim.stop()
    caller.join(TIMEOUT)
    assert not caller.is_alive()
    assert time.monotonic() - started < 3
    assert "error" in outcome  # the connection closed without an answer


def test_latency_delays_every_answer() -> None:
    with SimServer(faults="latency:300ms") as sim:
        started = time.monotonic()
        assert request(sim, "POST", "/v1/messages", worker_body())[0] == 200
        assert time.monotonic() - started >= 0.3
        assert request(sim, "POST", "/v1/messages", side_body())[0] == 200
        assert sim.stats()["faults"] == {"latency": 1}  # side requests are out of scope


def test_faults_change_on_a_running_server(sim: SimServer) -> None:
    assert request(sim, "POST", "/v1/messages", worker_body())[0] == 200
    sim.set_faults("529:1.0")
    assert request(sim, "POST", "/v1/messages", worker_body())[0] == 529
    status, _, data = request(sim, "POST", "/_sim/faults", {"faults": "429:1"})
    assert (status, json.loads(data)) == (200, {"faults": "429:1"})
    assert request(sim, "POST", "/v1/messages", worker_body())[0] == 429
    status, _, data = request(sim, "POST", "/_sim/faults", b"bogus:1")
    assert_api_error(status, data, 400, "invalid_request_error")
    assert b"unknown kind" in data
    assert request(sim, "GET", "/_sim/faults")[2] == b'{"faults": "429:1"}'
    assert request(sim, "POST", "/_sim/faults", b"")[0] == 200  # an empty spec: recovery
    assert request(sim, "POST", "/v1/messages", worker_body())[0] == 200
    assert sim.stats()["faults"] == {"429": 1, "529": 1}
    with pytest.raises(ValueError, match="unknown kind"):
        sim.set_faults("nope:1")


def test_same_seed_same_faults_over_http() -> None:
    def run(seed: int) -> list[int]:
        with SimServer(faults="429:0.3,500:0.3", seed=seed) as sim:
            return [request(sim, "POST", "/v1/messages", worker_body())[0] for _ in range(12)]

    assert run(5) == run(5)
    assert set(run(5)) <= {200, 429, 500}


# -- lifecycle ------------------------------------------------------------------------------------


async def test_async_context_manager() -> None:
    async with SimServer(seed=1) as sim:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
        assert sim.running
        with pytest.raises(RuntimeError):
            sim.start()
    assert not sim.running
    sim.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = sim.base_url


def test_bad_fault_spec_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        SimServer(faults="429:2")


def test_serve_forever_runs_until_sigterm() -> None:
    code = "from orchestrator.sim import serve_forever; serve_forever(0, '500:0.5', 3)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        assert "500:0.5" in line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=TIMEOUT)
        conn.request("GET", "/_sim/stats")
        assert json.loads(conn.getresponse().read())["fault_spec"] == "500:0.5"
        conn.close()
        proc.terminate()
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0
        assert '"requests": 0' in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
