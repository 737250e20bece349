"""``SimServer``: the simulator's HTTP server on 127.0.0.1, with its lifecycle and controls.

It runs ``http.server.ThreadingHTTPServer`` on a background thread, so it never blocks or
competes with the caller's event loop, and one slow (or stalled) request never holds up
another.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from orchestrator.domain.roles import Role
from orchestrator.sim.faults import FaultInjector, FaultSpec
from orchestrator.sim.handler import HOST, Core, SimHTTPServer
from orchestrator.sim.stats import DEFAULT_KEEP_REQUESTS, OTHER_ROLE, SimStats

#: How often the serving thread checks for ``stop()``: bounds how long ``stop()`` blocks.
_POLL_INTERVAL_S = 0.05


class SimServer:
    """The simulator on an ephemeral (or given) loopback port.

    Use as ``with SimServer() as sim:`` or ``async with SimServer(faults=..., seed=...) as
    sim:``, or call ``start()`` / ``stop()``. ``base_url`` goes into ``ANTHROPIC_BASE_URL``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        faults: FaultSpec | str = "",
        seed: int = 0,
        keep_requests: int = DEFAULT_KEEP_REQUESTS,
        worker_mode: str = "normal",
    ) -> None:
        self._requested_port = port
        self._stats = SimStats(keep_requests)
        self._core = Core(FaultInjector(faults, seed), self._stats, worker_mode)
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SimServer:
        if self._httpd is not None:
            raise RuntimeError("the simulator is already running")
        self._core.stopping.clear()
        self._httpd = SimHTTPServer(self._requested_port, self._core)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},
            name=f"orch-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled requests are released and every connection is closed."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._core.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> SimServer:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Blocks for at most one poll interval: too short to be worth a worker thread.
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # -- control and inspection --------------------------------------------------------------

    @property
    def faults(self) -> FaultSpec:
        return self._core.faults.spec

    def set_faults(self, spec: FaultSpec | str) -> FaultSpec:
        """Swap the fault spec while running (an outage, then recovery). ValueError if bad."""
        return self._core.faults.set_spec(spec)

    def stats(self) -> dict[str, Any]:
        """Requests and tokens per role ('other' for side requests), faults per kind."""
        return dict(self._stats.snapshot(), fault_spec=str(self.faults))

    def requests(self, role: Role | str | None = None) -> list[dict[str, Any]]:
        """The last request bodies of a role (None: side requests), oldest first."""
        key = OTHER_ROLE if role is None else str(getattr(role, "value", role))
        return self._stats.requests(key)

    def errors(self) -> list[str]:
        """Tracebacks of requests the role logic failed on (answered with a text reply)."""
        return self._stats.errors()
