"""The repository's ``config/``: the documented default settings file is the one the settings
model generates, and the example systemd unit stops the daemon the way it is built to stop."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from orchestrator.config import Settings, render_default_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def test_the_default_config_file_is_the_generated_one() -> None:
    """Regenerate with `python -m orchestrator.config > config/orchestrator.toml`."""
    text = (CONFIG_DIR / "orchestrator.toml").read_text(encoding="utf-8")
    assert text == render_default_config(), (
        "config/orchestrator.toml drifted from the settings model: run "
        "`python -m orchestrator.config > config/orchestrator.toml`"
    )
    # And it parses to the defaults (every section and key).
    data = tomllib.loads(text)
    defaults = Settings(home=Path("."))
    for section, values in data.items():
        for key, value in values.items():
            expected = getattr(getattr(defaults, section), key)
            assert (list(expected) if isinstance(expected, tuple) else expected) == value


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((CONFIG_DIR / "orch.service").read_text(encoding="utf-8"))
    return parser


def _seconds(value: str) -> float:
    value = value.strip()
    if value.endswith("min"):
        return float(value[:-3]) * 60
    return float(value.rstrip("s"))


def test_the_systemd_unit_stops_gracefully_and_restarts_on_failure() -> None:
    service = _unit()["Service"]
    assert service["Restart"] == "on-failure"
    # SIGTERM to the daemon only; it ends its own sessions (a group-wide SIGTERM would cut
    # the CLIs before their checkpoints).
    assert service["KillMode"] == "mixed"
    assert service.get("KillSignal", "SIGTERM") == "SIGTERM"
    grace = Settings(home=Path(".")).daemon.shutdown_grace_s
    assert _seconds(service["TimeoutStopSec"]) > grace + 10
    assert service["ExecStart"].split()[-1] == "run"
    assert "--exit-when-idle" not in service["ExecStart"]
    # Bad settings do not restart in a loop; "needs attention" (3) is no failure.
    assert "2" in service["RestartPreventExitStatus"].split()
    assert "3" in service["SuccessExitStatus"].split()
