"""The HTTP side of the simulator: routes, request reading, faults on the wire, responses.

Routes:

- ``POST /v1/messages`` (query strings such as ``?beta=true`` are ignored): SSE when the body
  says ``"stream": true``, else one JSON message.
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": n}``, the same estimate as usage.
- ``GET /_sim/stats``; ``GET`` / ``POST /_sim/faults`` to read or swap the fault spec.
- anything else: 404 in the API's error shape. Malformed requests get 400, never a crash.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from orchestrator.sim.conversation import Conversation, RequestError, parse_request
from orchestrator.sim.faults import BACKEND_FAULTS, FaultInjector, FaultKind
from orchestrator.sim.reply import Reply, build_message, input_tokens, new_message_id, say
from orchestrator.sim.roles import respond
from orchestrator.sim.sse import cut_events, encode_event, message_events
from orchestrator.sim.stats import OTHER_ROLE, SimStats

HOST = "127.0.0.1"
#: Seconds a 429 or 529 asks the client to wait (the ``retry-after`` header).
RETRY_AFTER_S = 1

_FAULT_ERRORS: dict[FaultKind, tuple[int, str, str]] = {
    FaultKind.RATE_LIMIT: (429, "rate_limit_error", "Rate limited (simulated)."),
    FaultKind.OVERLOADED: (529, "overloaded_error", "Overloaded (simulated)."),
    FaultKind.SERVER_ERROR: (500, "api_error", "Internal server error (simulated)."),
    FaultKind.UNAUTHORIZED: (401, "authentication_error", "invalid x-api-key (simulated)."),
}


class _BadRequest(Exception):
    pass


class Core:
    """What the handler threads share: faults, stats, and the stop signal stalls wait on."""

    def __init__(self, faults: FaultInjector, stats: SimStats, worker_mode: str = "normal") -> None:
        self.faults = faults
        self.stats = stats
        #: "normal", or "escape" (tests only: ``sim.escape``).
        self.worker_mode = worker_mode
        self.stopping = threading.Event()


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, core: Core) -> None:
        self.core = core
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every client: keep-alive and stalled connections must not outlive us."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer (a cancelled CLI, a cut) is normal, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the CLI's retries would flood stderr; stats tell the story

    # -- routing -----------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        try:
            raw = self._read_body()
            if path == "/v1/messages":
                self._messages(raw)
            elif path == "/v1/messages/count_tokens":
                self._count_tokens(raw)
            elif path == "/_sim/faults":
                self._set_faults(raw)
            else:
                self._not_found()
        except _BadRequest as exc:
            self.server.core.stats.record_bad_request()
            self._error(400, "invalid_request_error", str(exc))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        core = self.server.core
        if path == "/_sim/stats":
            self._json(200, dict(core.stats.snapshot(), fault_spec=str(core.faults.spec)))
        elif path == "/_sim/faults":
            self._json(200, {"faults": str(core.faults.spec)})
        else:
            self._not_found()

    def do_PUT(self) -> None:
        self._not_found()

    def do_DELETE(self) -> None:
        self._not_found()

    def do_PATCH(self) -> None:
        self._not_found()

    def do_OPTIONS(self) -> None:
        self._not_found()

    def do_HEAD(self) -> None:
        # A HEAD answer carries no body, only the status and headers a GET would have.
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "0")
        self.end_headers()

    # -- endpoints ---------------------------------------------------------------------------

    def _messages(self, raw: bytes) -> None:
        core = self.server.core
        body = _parse_json(raw)
        try:
            conv = parse_request(body)
        except RequestError as exc:
            raise _BadRequest(str(exc)) from None
        role = conv.role.value if conv.role is not None else OTHER_ROLE
        core.stats.record_request(role, body)
        decision = core.faults.decide(from_role=conv.role is not None)
        if decision.delay_s:
            core.stats.record_fault("latency")
            if core.stopping.wait(decision.delay_s):
                self.close_connection = True
                return
        if self._fault_answered(decision.kind):
            return
        if decision.kind is FaultKind.STALL:
            # Accept and say nothing until the server stops: the caller's idle watchdog trips.
            core.stopping.wait()
            self.close_connection = True
            return
        in_count = input_tokens(body)
        message_id = new_message_id()
        message = build_message(
            _answer(conv, core.stats, core.worker_mode),
            model=conv.model,
            message_id=message_id,
            salt=message_id,
            input_count=in_count,
        )
        cut = decision.kind is FaultKind.CUT
        if not cut:
            core.stats.record_tokens(role, in_count, message["usage"]["output_tokens"])
        elif conv.stream:
            # A cut stream has delivered message_start with its input tokens: clients bill them.
            core.stats.record_tokens(role, in_count, 0)
        if conv.stream:
            self._stream(message, cut=cut)
        else:
            self._json(200, message, cut=cut)

    def _count_tokens(self, raw: bytes) -> None:
        body = _parse_json(raw)
        try:
            parse_request(body)
        except RequestError as exc:
            raise _BadRequest(str(exc)) from None
        core = self.server.core
        core.stats.record_count_tokens()
        if self._fault_answered(core.faults.decide(from_role=False, only=BACKEND_FAULTS).kind):
            return
        self._json(200, {"input_tokens": input_tokens(body)})

    def _fault_answered(self, fault: FaultKind | None) -> bool:
        """Answer with ``fault`` when it is an error answer or a hang-up; True if it was."""
        if fault is None:
            return False
        self.server.core.stats.record_fault(fault.value)
        error = _FAULT_ERRORS.get(fault)
        if error is not None:
            status, kind, text = error
            self._error(status, kind, text, retry_after=status in (429, 529))
            return True
        if fault is FaultKind.DOWN:
            # Hang up without a byte: to the client the backend cannot be reached.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        return False

    def _set_faults(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if text.startswith("{"):
            value = _parse_json(raw)
            text = str(value.get("faults", "")) if isinstance(value, dict) else ""
        try:
            spec = self.server.core.faults.set_spec(text)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        self._json(200, {"faults": str(spec)})

    def _not_found(self) -> None:
        self._error(404, "not_found_error", f"{self.command} {self.path} is not served here")

    # -- wire --------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("content-length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest("content-length is not a number") from None
        if size < 0:
            raise _BadRequest("content-length is negative")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(65537).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadRequest("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("request-id", f"req_sim{new_message_id()[7:]}")
        if length is not None:
            self.send_header("content-length", str(length))

    def _json(self, status: int, value: dict[str, Any], *, cut: bool = False) -> None:
        data = json.dumps(value, ensure_ascii=False).encode()
        self._headers(status, "application/json", len(data))
        if cut:
            self.send_header("connection", "close")
        self.end_headers()
        # A cut JSON answer announces its full length and delivers half: a truncated body.
        self.wfile.write(data[: len(data) // 2] if cut else data)
        if cut:
            self.close_connection = True

    def _error(self, status: int, kind: str, message: str, *, retry_after: bool = False) -> None:
        data = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
        self._headers(status, "application/json", len(data))
        if retry_after:
            self.send_header("retry-after", str(RETRY_AFTER_S))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, message: dict[str, Any], *, cut: bool) -> None:
        self._headers(200, "text/event-stream; charset=utf-8", None)
        self.send_header("cache-control", "no-cache")
        # No content-length and no chunking: the end of the stream is the end of the connection.
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        for event, data in cut_events(message) if cut else message_events(message):
            self.wfile.write(encode_event(event, data))
            self.wfile.flush()


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise _BadRequest("request body is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(f"request body is not valid JSON: {exc}") from None


def _answer(conv: Conversation, stats: SimStats, worker_mode: str) -> Reply:
    """The role's reply; a simulator bug becomes a visible text answer, never a dead server."""
    try:
        return respond(conv, worker_mode)
    except Exception:
        stats.record_error(traceback.format_exc())
        return say("The simulator failed to answer this request (see SimServer.errors()).")
