"""Settings: one frozen object, loaded once at the edge from the TOML file and ORCH_* variables.

Precedence: defaults < ``config/orchestrator.toml`` < ``ORCH_<SECTION>_<KEY>`` environment
variables (for example ``ORCH_DAEMON_MAX_AGENTS=8`` or ``ORCH_MODEL_BACKEND=sim``). An unknown
key or a value of the wrong type is a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from orchestrator.domain.errors import ConfigError

CONFIG_RELPATH = Path("config") / "orchestrator.toml"
ENV_PREFIX = "ORCH_"


def _key(default: Any, doc: str) -> Any:
    """A settings field with its documentation (written into the default config file)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class DaemonSettings:
    max_agents: int = _key(4, "Agent sessions (workers and decision agents) running at once.")
    global_interval_s: float = _key(900.0, "Seconds between global-agent planning rounds.")
    dispatch_interval_s: float = _key(
        2.0, "Seconds between dispatch rounds (dispatch also runs whenever a slot frees up)."
    )
    heartbeat_interval_s: float = _key(5.0, "Seconds between lease heartbeats.")
    lease_ttl_s: float = _key(
        30.0, "Seconds without a heartbeat after which a daemon's lease counts as expired."
    )
    shutdown_grace_s: float = _key(
        30.0, "Seconds a graceful stop may take before sessions are cut off."
    )
    queue_size: int = _key(10, "Work orders the project agent queues per track at a time.")


@dataclass(frozen=True)
class LimitSettings:
    run_wall_clock_s: float = _key(3600.0, "Wall-clock seconds one agent session may run.")
    idle_timeout_s: float = _key(
        300.0, "Seconds without any message from a session before the idle watchdog ends it."
    )
    max_turns: int = _key(60, "Turns one agent session may take.")
    max_cost_per_run_usd: float = _key(5.0, "Cost cap of one agent session, in USD.")
    max_cost_per_wo_usd: float = _key(10.0, "Cost cap of one work order over all attempts.")
    budget_per_run_usd: float = _key(
        0.0, "Cost cap of one `orch run`, in USD (0: no cap; `--budget` overrides)."
    )
    max_attempts: int = _key(3, "Attempts per work order before it is marked failed.")
    check_timeout_s: float = _key(900.0, "Seconds the project's check command may run.")


@dataclass(frozen=True)
class ModelSettings:
    backend: str = _key(
        "claude", '"claude" uses your Claude login; "sim" runs the offline simulator on loopback.'
    )
    model: str = _key("", 'Model name passed to the CLI ("" lets the CLI choose).')
    sim_faults: str = _key(
        "", 'Fault spec for the simulator, e.g. "429:0.1,latency:200ms" ("" for none).'
    )
    sim_seed: int = _key(0, "Seed of the simulator's fault injection.")


@dataclass(frozen=True)
class OrganizerSettings:
    organize_after_new_wos: int = _key(
        10, "New work orders in a project that trigger the organizer automatically."
    )
    auto_apply_incremental: bool = _key(
        False, "Apply incremental proposals that only assign WOs to existing tracks unreviewed."
    )
    context_token_budget: int = _key(
        12000, "Token budget of the organizer's context (estimated as characters / 4)."
    )
    max_attempts: int = _key(3, "Attempts the organizer gets to correct an invalid proposal.")


@dataclass(frozen=True)
class ExperimentSettings:
    judge_close_calls: bool = _key(
        True,
        "Let the judge agent break a close call (medians within each other's spread) "
        "of an automatic decision; false: the rule's order stands.",
    )
    eval_timeout_s: float = _key(
        0.0, "Default seconds one evaluation run may take (0: limits.check_timeout_s)."
    )


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _key("info", "Lowest level written: debug, info, warning or error.")
    secret_env_vars: tuple[str, ...] = _key(
        ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
        "Environment variables whose values are redacted from every log line.",
    )


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".")
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    organizer: OrganizerSettings = field(default_factory=OrganizerSettings)
    experiments: ExperimentSettings = field(default_factory=ExperimentSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "orchestrator.db"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    @property
    def workspaces_dir(self) -> Path:
        return self.home / "workspaces"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_RELPATH

    @property
    def owner_id(self) -> str:
        """Marks the agent processes of this home (so orphans of a dead daemon can be found)."""
        return "orch-" + hashlib.sha256(str(self.home).encode()).hexdigest()[:16]


SECTIONS: dict[str, type[Any]] = {
    "daemon": DaemonSettings,
    "limits": LimitSettings,
    "model": ModelSettings,
    "organizer": OrganizerSettings,
    "experiments": ExperimentSettings,
    "logging": LoggingSettings,
}


def _coerce(key: str, value: Any, annotation: str, from_env: bool) -> Any:
    """Check (TOML) or parse (env) one value against its field's type."""
    try:
        if annotation == "bool":
            if from_env:
                lowered = str(value).lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError
                return lowered in {"1", "true", "yes"}
            if not isinstance(value, bool):
                raise ValueError
            return value
        if annotation == "int":
            if isinstance(value, bool) or (not from_env and not isinstance(value, int)):
                raise ValueError
            return int(value)
        if annotation == "float":
            if isinstance(value, bool) or (not from_env and not isinstance(value, int | float)):
                raise ValueError
            return float(value)
        if annotation == "str":
            if not from_env and not isinstance(value, str):
                raise ValueError
            return str(value)
        if annotation.startswith("tuple"):
            items = str(value).split(",") if from_env else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return tuple(i.strip() for i in items if i.strip())
    except ValueError:
        raise ConfigError(f"config key {key}: expected {annotation}, got {value!r}") from None
    raise ConfigError(f"config key {key}: unsupported type {annotation}")


def _section(name: str, cls: type[Any], table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    hints = {f.name: str(f.type) for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in hints:
            raise ConfigError(f"unknown config key {name}.{key}")
        values[key] = _coerce(f"{name}.{key}", value, hints[key], from_env=False)
    for key, annotation in hints.items():
        env_name = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
        if env_name in env:
            values[key] = _coerce(env_name, env[env_name], annotation, from_env=True)
    return cls(**values)


def load_settings(home: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``home/config/orchestrator.toml`` (if present) and the ORCH_* variables."""
    env = os.environ if env is None else env
    path = home / CONFIG_RELPATH
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for name in data:
        if name not in SECTIONS:
            raise ConfigError(f"unknown config section [{name}] in {path}")
        if not isinstance(data[name], dict):
            raise ConfigError(f"config section {name} must be a table")
    sections = {
        name: _section(name, cls, data.get(name, {}), env) for name, cls in SECTIONS.items()
    }
    settings = Settings(home=home.resolve(), **sections)
    if settings.model.backend not in {"claude", "sim"}:
        raise ConfigError(
            f"config key model.backend: expected claude or sim, got {settings.model.backend!r}"
        )
    return settings


def with_overrides(settings: Settings, section: str, **values: Any) -> Settings:
    """A copy of ``settings`` with some keys of one section replaced (CLI flags)."""
    current = getattr(settings, section)
    return dataclasses.replace(settings, **{section: dataclasses.replace(current, **values)})


def render_default_config() -> str:
    """The documented default config written by ``orch init``: every key with its default."""
    lines = [
        "# Track orchestrator settings. Every key is shown with its default.",
        "# Environment variables ORCH_<SECTION>_<KEY> override this file.",
        "",
    ]
    for name, cls in SECTIONS.items():
        lines.append(f"[{name}]")
        for f in fields(cls):
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"{f.name} = {_toml_value(getattr(cls(), f.name))}")
            lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
