"""Running the simulator as a foreground service (``orch sim serve``) and pointing a CLI at it."""

from __future__ import annotations

import json
import signal
import sys
import threading

from orchestrator.sim.server import SimServer

#: The API key the CLI sends to the simulator. The simulator ignores it; the CLI needs one.
SIM_API_KEY = "sim-key"


def sim_env(base_url: str, config_dir: str | None = None) -> dict[str, str]:
    """Environment for a Claude Code CLI session that talks to the simulator.

    ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`` keeps the CLI from calling home (telemetry,
    update checks) and from side requests; ``CLAUDE_CONFIG_DIR`` keeps it out of the user's
    ``~/.claude``.
    """
    env = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": SIM_API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    if config_dir is not None:
        env["CLAUDE_CONFIG_DIR"] = config_dir
    return env


def serve_forever(port: int, faults: str, seed: int) -> None:
    """Serve on 127.0.0.1:``port`` (0: any free port) until SIGINT or SIGTERM.

    Raises ValueError for a bad fault spec and OSError when the port is taken, before serving.
    """
    sim = SimServer(port=port, faults=faults, seed=seed).start()
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(
        f"orch sim: Messages API on {sim.base_url} (faults: {sim.faults or 'none'}, seed {seed})",
        flush=True,
    )
    print(f"  export ANTHROPIC_BASE_URL={sim.base_url} ANTHROPIC_API_KEY={SIM_API_KEY}", flush=True)
    try:
        # A bounded wait, so Ctrl-C is delivered promptly on every platform.
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print(json.dumps(sim.stats(), sort_keys=True), file=sys.stderr, flush=True)
