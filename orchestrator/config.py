"""Settings: one frozen object, loaded once at the edge from the TOML file and ORCH_* variables.

Precedence: defaults < ``config/orchestrator.toml`` < ``ORCH_<SECTION>_<KEY>`` environment
variables (for example ``ORCH_DAEMON_MAX_AGENTS=8`` or ``ORCH_MODEL_BACKEND=sim``). An unknown
key or a value of the wrong type is a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from orchestrator.domain.errors import ConfigError
from orchestrator.domain.redaction import mask_url_password, url_password

CONFIG_RELPATH = Path("config") / "orchestrator.toml"
ENV_PREFIX = "ORCH_"


@dataclass(frozen=True)
class Allowed:
    """The values a key accepts beyond its type: bounds, a fixed set, or a check.

    Declared with each key (``_key(..., allowed=Allowed(ge=1))``), so the loader checks every
    key the same way and an error, the default file and the README can state the range.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    #: A check of a string's syntax: returns the problem, or None when the value is fine.
    check: Callable[[str], str | None] | None = None

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        parts = []
        if self.gt is not None:
            parts.append(f"> {self.gt:g}")
        if self.ge is not None:
            parts.append(f">= {self.ge:g}")
        if self.le is not None:
            parts.append(f"<= {self.le:g}")
        return " and ".join(parts)

    def problem(self, value: Any, kind: str) -> str | None:
        """What ``value`` (already of the key's type, a ``kind``) should be, or None if fine."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"a finite number {self.describe()}".rstrip()
        if self.choices and value not in self.choices:
            return self.describe()
        if isinstance(value, int | float) and not isinstance(value, bool):
            too_low = (self.ge is not None and value < self.ge) or (
                self.gt is not None and value <= self.gt
            )
            if too_low or (self.le is not None and value > self.le):
                return f"{kind} {self.describe()}"
        if self.check is not None and isinstance(value, str):
            return self.check(value)
        return None


ANY = Allowed()


def _key(default: Any, doc: str, allowed: Allowed = ANY) -> Any:
    """A settings field with its documentation and allowed values (see :class:`Allowed`)."""
    return field(default=default, metadata={"doc": doc, "allowed": allowed})


def _fault_spec_problem(spec: str) -> str | None:
    if not spec:
        return None
    # Imported only when a spec is set: the simulator package is not on the read path.
    from orchestrator.sim.faults import parse_fault_spec

    try:
        parse_fault_spec(spec)
    except ValueError as exc:
        return f'a fault spec like "429:0.1,latency:200ms" ({exc})'
    return None


#: The URL schemes ``store.url`` accepts (``store.factory`` opens each).
STORE_SCHEMES = ("sqlite:///", "postgresql+psycopg://")


def _store_url_problem(url: str) -> str | None:
    if not url or url.startswith(STORE_SCHEMES):
        return None
    return '"" (the home\'s SQLite file), "sqlite:///PATH" or "postgresql+psycopg://..."'


POSITIVE = Allowed(gt=0)
NON_NEGATIVE = Allowed(ge=0)
AT_LEAST_ONE = Allowed(ge=1)


@dataclass(frozen=True)
class DaemonSettings:
    max_agents: int = _key(
        4,
        "Agent sessions (workers and decision agents) running at once.",
        Allowed(ge=1, le=256),
    )
    global_interval_s: float = _key(
        900.0, "Seconds between global-agent planning rounds.", POSITIVE
    )
    dispatch_interval_s: float = _key(
        2.0,
        "Seconds between dispatch rounds (dispatch also runs whenever a slot frees up).",
        POSITIVE,
    )
    heartbeat_interval_s: float = _key(5.0, "Seconds between lease heartbeats.", POSITIVE)
    lease_ttl_s: float = _key(
        30.0,
        "Seconds without a heartbeat after which a daemon's lease counts as expired.",
        POSITIVE,
    )
    shutdown_grace_s: float = _key(
        30.0, "Seconds a graceful stop may take before sessions are cut off.", NON_NEGATIVE
    )
    queue_size: int = _key(
        50,
        "Work orders the project agent queues per track at a time (it is shown at most 50;"
        " a WO that becomes startable outside its queue makes it choose again).",
        Allowed(ge=1, le=1000),
    )


@dataclass(frozen=True)
class LimitSettings:
    run_wall_clock_s: float = _key(
        3600.0, "Wall-clock seconds one agent session may run.", POSITIVE
    )
    idle_timeout_s: float = _key(
        300.0,
        "Seconds without any message from a session before the idle watchdog ends it.",
        POSITIVE,
    )
    max_turns: int = _key(60, "Turns one agent session may take.", AT_LEAST_ONE)
    decision_max_turns: int = _key(
        10,
        "Turns one decision session (global, project, organizer) may take (at most max_turns).",
        AT_LEAST_ONE,
    )
    max_cost_per_run_usd: float = _key(5.0, "Cost cap of one agent session, in USD.", POSITIVE)
    max_cost_per_wo_usd: float = _key(
        10.0, "Cost cap of one work order over all attempts.", POSITIVE
    )
    budget_per_run_usd: float = _key(
        0.0, "Cost cap of one `orch run`, in USD (0: no cap; `--budget` overrides).", NON_NEGATIVE
    )
    max_attempts: int = _key(
        3, "Attempts per work order before it is marked failed.", Allowed(ge=1, le=100)
    )
    check_timeout_s: float = _key(900.0, "Seconds the project's check command may run.", POSITIVE)


@dataclass(frozen=True)
class ModelSettings:
    backend: str = _key(
        "claude",
        '"claude" uses your Claude login; "sim" runs the offline simulator on loopback.',
        Allowed(choices=("claude", "sim")),
    )
    model: str = _key("", 'Model name passed to the CLI ("" lets the CLI choose).')
    decision_model: str = _key(
        "",
        "Model of the decision agents (global, project, organizer), e.g. a smaller one than"
        ' the workers\' ("" for the same as model).',
    )
    sim_faults: str = _key(
        "",
        'Fault spec for the simulator, e.g. "429:0.1,latency:200ms" ("" for none).',
        Allowed(check=_fault_spec_problem),
    )
    sim_seed: int = _key(0, "Seed of the simulator's fault injection.", NON_NEGATIVE)


@dataclass(frozen=True)
class OrganizerSettings:
    organize_after_new_wos: int = _key(
        10,
        "New work orders in a project that trigger the organizer automatically (0: never).",
        NON_NEGATIVE,
    )
    auto_apply_incremental: bool = _key(
        False, "Apply incremental proposals that only assign WOs to existing tracks unreviewed."
    )
    context_token_budget: int = _key(
        12000,
        "Token budget of the organizer's context (estimated as characters / 4).",
        Allowed(ge=1000),
    )
    max_attempts: int = _key(
        3, "Attempts the organizer gets to correct an invalid proposal.", Allowed(ge=1, le=20)
    )


@dataclass(frozen=True)
class ExperimentSettings:
    judge_close_calls: bool = _key(
        True,
        "Let the judge agent break a close call (medians within each other's spread) "
        "of an automatic decision; false: the rule's order stands.",
    )
    eval_timeout_s: float = _key(
        0.0,
        "Default seconds one evaluation run may take (0: limits.check_timeout_s).",
        NON_NEGATIVE,
    )


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _key(
        "info",
        "Lowest level written: debug, info, warning or error.",
        Allowed(choices=("debug", "info", "warning", "error")),
    )
    secret_env_vars: tuple[str, ...] = _key(
        ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "GITHUB_TOKEN"),
        "Environment variables whose values are redacted from everything stored: log lines, "
        "the DB, reports, transcripts (variables named like *TOKEN*, *SECRET*, *PASSWORD*, "
        "*API_KEY* are redacted too, as are token-shaped strings).",
    )


#: Same as ``agents.environment.DEFAULT_PASSTHROUGH`` (not imported: it pulls in the SDK).
DEFAULT_AGENT_ENV_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_*", "TZ", "TERM")


@dataclass(frozen=True)
class AgentSettings:
    env_passthrough: tuple[str, ...] = _key(
        DEFAULT_AGENT_ENV_PASSTHROUGH,
        "Variables of the daemon's environment agents (and the check command) get; * is a "
        'wildcard. Nothing else reaches them. With model.backend = "claude" the model\'s '
        "credentials (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN, "
        "ANTHROPIC_BASE_URL, proxies) are passed to the CLI as well.",
    )


@dataclass(frozen=True)
class WorkerSettings:
    sandbox: bool = _key(
        True,
        "Run workers' Bash in Claude Code's sandbox and the check command under bubblewrap "
        "(needs bubblewrap and socat). false runs them unconfined: set it only knowingly.",
    )
    allowed_domains: tuple[str, ...] = _key(
        (),
        "Domains sandboxed workers' Bash may reach (none: no network). Non-empty also gives "
        "the check command the host's network.",
    )


@dataclass(frozen=True)
class StoreSettings:
    url: str = _key(
        "",
        'Where the state lives: "" is the SQLite file state/orchestrator.db in the home; '
        '"sqlite:///PATH" another SQLite file; "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB" '
        "a PostgreSQL database (several homes may share one). Shown with its password masked.",
        Allowed(check=_store_url_problem),
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
    agent: AgentSettings = field(default_factory=AgentSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "orchestrator.db"

    @property
    def store_url(self) -> str:
        """The database the store opens: ``store.url``, or the home's SQLite file."""
        return self.store.url or f"sqlite:///{self.db_path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Secret values in the settings themselves: the store URL's password (as written
        and decoded), masked wherever anything is stored."""
        password = url_password(self.store.url)
        return () if password is None else tuple({password, unquote(password)})

    @property
    def uses_home_db(self) -> bool:
        """The state lives in the home's own SQLite file (not elsewhere)."""
        return self.store_url == f"sqlite:///{self.db_path}"

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
    "agent": AgentSettings,
    "worker": WorkerSettings,
    "store": StoreSettings,
}


#: ORCH_* variables that are not settings: the home, what the daemon gives its agents, and
#: the test suite's switch.
NON_SETTING_ENV_VARS = frozenset(
    {
        "ORCH_HOME",
        "ORCH_AGENT_OWNER",
        "ORCH_AGENT_TOKEN",
        "ORCH_ENV_KEEP",
        # The test suite's: PostgreSQL tests fail instead of skipping without a server.
        "ORCH_REQUIRE_POSTGRES",
    }
)

_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text"}


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
        expected = _TYPE_WORDS.get(annotation, annotation)
        raise ConfigError(f"config key {key}: expected {expected}, got {_shown(value)!r}") from None
    raise ConfigError(f"config key {key}: unsupported type {annotation}")


def _shown(value: Any) -> Any:
    """A value as an error may quote it: a URL's password masked."""
    return mask_url_password(value) if isinstance(value, str) else value


def _checked(key: str, f: dataclasses.Field[Any], value: Any, from_env: bool) -> Any:
    """``value`` of field ``f`` parsed, type-checked and range-checked, or ConfigError."""
    annotation = str(f.type)
    parsed = _coerce(key, value, annotation, from_env)
    allowed: Allowed = f.metadata["allowed"]
    problem = allowed.problem(parsed, _TYPE_WORDS.get(annotation, annotation))
    if problem is not None:
        raise ConfigError(f"config key {key}: must be {problem}, got {_shown(value)!r}")
    return parsed


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def env_var_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _check_env_names(env: Mapping[str, str]) -> None:
    """An ORCH_* variable that names no setting is a typo: refuse it, naming the closest."""
    known = [env_var_name(s, f.name) for s, cls in SECTIONS.items() for f in fields(cls)]
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known and name not in NON_SETTING_ENV_VARS:
            # Compared without the prefix, which every candidate shares.
            names = [k.removeprefix(ENV_PREFIX) for k in [*known, *sorted(NON_SETTING_ENV_VARS)]]
            hint = _closest(name.removeprefix(ENV_PREFIX), names).replace(
                "mean ", "mean " + ENV_PREFIX
            )
            raise ConfigError(f"unknown environment variable {name}{hint}")


def _section(name: str, cls: type[Any], table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    by_name = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in by_name:
            raise ConfigError(f"unknown config key {name}.{key}{_closest(key, list(by_name))}")
        values[key] = _checked(f"{name}.{key}", by_name[key], value, from_env=False)
    for key, f in by_name.items():
        env_name = env_var_name(name, key)
        if env_name in env:
            values[key] = _checked(f"{env_name} ({name}.{key})", f, env[env_name], from_env=True)
    return cls(**values)


def _check_together(settings: Settings) -> None:
    """Rules between keys: a lease must outlive the heartbeats that renew it."""
    daemon = settings.daemon
    if daemon.lease_ttl_s <= daemon.heartbeat_interval_s:
        raise ConfigError(
            f"config key daemon.lease_ttl_s ({daemon.lease_ttl_s:g}) must be greater than "
            f"daemon.heartbeat_interval_s ({daemon.heartbeat_interval_s:g})"
        )


def check_environment(env: Mapping[str, str] | None = None) -> None:
    """Refuse bad ORCH_* variables before a home is known (``orch demo`` makes its own)."""
    _from_data(Path("."), {}, Path("(none)"), os.environ if env is None else env)


def load_settings(home: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``home/config/orchestrator.toml`` (if present) and the ORCH_* variables."""
    env = os.environ if env is None else env
    path = home / CONFIG_RELPATH
    data: dict[str, Any] = {}
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} is not a file")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return _from_data(home, data, path, env)


def _from_data(home: Path, data: dict[str, Any], path: Path, env: Mapping[str, str]) -> Settings:
    _check_env_names(env)
    for name in data:
        if name not in SECTIONS:
            raise ConfigError(
                f"unknown config section [{name}] in {path}{_closest(name, list(SECTIONS))}"
            )
        if not isinstance(data[name], dict):
            raise ConfigError(f"config section {name} must be a table")
    sections = {
        name: _section(name, cls, data.get(name, {}), env) for name, cls in SECTIONS.items()
    }
    settings = Settings(home=home.resolve(), **sections)
    _check_together(settings)
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
            allowed = f.metadata["allowed"].describe()
            lines.append(f"# {f.metadata['doc']}" + (f" Allowed: {allowed}." if allowed else ""))
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


if __name__ == "__main__":
    # `python -m orchestrator.config > config/orchestrator.toml` regenerates the repository's
    # documented default (a unit test fails when the two drift apart).
    sys.stdout.write(render_default_config())
