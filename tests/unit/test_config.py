"""Settings: defaults, the TOML file, ORCH_* variables, and the errors that name the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from orchestrator.config import (
    CONFIG_RELPATH,
    SECTIONS,
    Settings,
    load_settings,
    render_default_config,
    with_overrides,
)
from orchestrator.domain.errors import ConfigError, UserInputError
from tests.conftest import OrchRunner


def write_config(home: Path, text: str) -> None:
    path = home / CONFIG_RELPATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.home == tmp_path.resolve()
    assert settings.daemon.max_agents == 4
    assert settings.daemon.queue_size == 50
    assert settings.limits.max_turns == 60
    assert settings.limits.max_cost_per_run_usd == 5.0
    assert settings.model.backend == "claude"
    assert settings.organizer.auto_apply_incremental is False
    assert "ANTHROPIC_API_KEY" in settings.logging.secret_env_vars
    assert settings.agent.env_passthrough[0] == "PATH"
    assert settings.db_path == tmp_path.resolve() / "state" / "orchestrator.db"
    assert settings.workspaces_dir == tmp_path.resolve() / "workspaces"
    assert settings.config_path == tmp_path.resolve() / "config" / "orchestrator.toml"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.daemon.max_agents = 9  # type: ignore[misc]


def test_toml_overrides_defaults(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "[daemon]\nmax_agents = 8\ndispatch_interval_s = 1\n"
        '[model]\nbackend = "sim"\n'
        "[organizer]\nauto_apply_incremental = true\n"
        '[logging]\nsecret_env_vars = ["MY_TOKEN"]\n',
    )
    settings = load_settings(tmp_path, env={})
    assert settings.daemon.max_agents == 8
    # An integer where a float is expected is accepted and becomes a float.
    assert settings.daemon.dispatch_interval_s == 1.0
    assert isinstance(settings.daemon.dispatch_interval_s, float)
    assert settings.model.backend == "sim"
    assert settings.organizer.auto_apply_incremental is True
    assert settings.logging.secret_env_vars == ("MY_TOKEN",)
    # Keys the file leaves out keep their defaults.
    assert settings.daemon.queue_size == 50


def test_env_overrides_toml(tmp_path: Path) -> None:
    write_config(tmp_path, "[daemon]\nmax_agents = 8\n")
    env = {
        "ORCH_DAEMON_MAX_AGENTS": "2",
        "ORCH_MODEL_BACKEND": "sim",
        "ORCH_LIMITS_MAX_COST_PER_RUN_USD": "0.5",
        "ORCH_ORGANIZER_AUTO_APPLY_INCREMENTAL": "yes",
        "ORCH_LOGGING_SECRET_ENV_VARS": "A_KEY, B_KEY",
        "ORCH_HOME": "/elsewhere",
        "UNRELATED": "ignored",
    }
    settings = load_settings(tmp_path, env=env)
    assert settings.daemon.max_agents == 2
    assert settings.model.backend == "sim"
    assert settings.limits.max_cost_per_run_usd == 0.5
    assert settings.organizer.auto_apply_incremental is True
    assert settings.logging.secret_env_vars == ("A_KEY", "B_KEY")


def test_env_is_read_from_the_process_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_DAEMON_QUEUE_SIZE", "7")
    assert load_settings(tmp_path).daemon.queue_size == 7


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[daemon]\nmax_agent = 3\n", "daemon.max_agent"),
        ("[limits]\nturns = 3\n", "limits.turns"),
        ("[deamon]\nmax_agents = 3\n", "deamon"),
    ],
)
def test_unknown_key_names_it(tmp_path: Path, text: str, named: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[daemon]\nmax_agents = "four"\n', "daemon.max_agents"),
        ("[daemon]\nmax_agents = 2.5\n", "daemon.max_agents"),
        ("[daemon]\nmax_agents = true\n", "daemon.max_agents"),
        ('[limits]\nrun_wall_clock_s = "1h"\n', "limits.run_wall_clock_s"),
        ("[model]\nbackend = 3\n", "model.backend"),
        ('[organizer]\nauto_apply_incremental = "yes"\n', "organizer.auto_apply_incremental"),
        ("[logging]\nsecret_env_vars = [1, 2]\n", "logging.secret_env_vars"),
        ('[model]\nbackend = "gpt"\n', "model.backend"),
        ("daemon = 3\n", "daemon"),
    ],
)
def test_wrong_type_names_the_key(tmp_path: Path, text: str, named: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORCH_DAEMON_MAX_AGENTS", "many"),
        ("ORCH_LIMITS_IDLE_TIMEOUT_S", "soon"),
        ("ORCH_ORGANIZER_AUTO_APPLY_INCREMENTAL", "maybe"),
    ],
)
def test_wrong_env_value_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(tmp_path, env={name: value})


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("ORCH_DAEMON_MAX_AGENTS", "-3", ">= 1 and <= 256"),
        ("ORCH_DAEMON_MAX_AGENTS", "0", ">= 1"),
        ("ORCH_DAEMON_MAX_AGENTS", "1000", "<= 256"),
        ("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "nan", "finite number > 0"),
        ("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "inf", "finite number > 0"),
        ("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "0", "> 0"),
        ("ORCH_DAEMON_LEASE_TTL_S", "-5", "> 0"),
        ("ORCH_LIMITS_MAX_TURNS", "-1", ">= 1"),
        ("ORCH_LIMITS_MAX_ATTEMPTS", "0", ">= 1"),
        ("ORCH_LIMITS_BUDGET_PER_RUN_USD", "-0.5", ">= 0"),
        ("ORCH_LOGGING_LEVEL", "verbose", "one of debug, info, warning, error"),
        ("ORCH_MODEL_BACKEND", "gpt", "one of claude, sim"),
        ("ORCH_MODEL_SIM_FAULTS", "bogus", "fault spec"),
        ("ORCH_ORGANIZER_CONTEXT_TOKEN_BUDGET", "10", ">= 1000"),
    ],
)
def test_out_of_range_env_value_names_key_and_range(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    key = name.removeprefix("ORCH_").lower().replace("_", ".", 1)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={name: value})
    assert name in str(info.value) and key in str(info.value)
    assert said in str(info.value)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[daemon]\nmax_agents = -3\n", "daemon.max_agents: must be an integer >= 1"),
        (
            "[daemon]\nheartbeat_interval_s = 0\n",
            "daemon.heartbeat_interval_s: must be a number > 0",
        ),
        ("[daemon]\nlease_ttl_s = -5.0\n", "daemon.lease_ttl_s: must be a number > 0"),
        ("[daemon]\nheartbeat_interval_s = nan\n", "daemon.heartbeat_interval_s: must be a finite"),
        ("[limits]\nmax_turns = -1\n", "limits.max_turns: must be an integer >= 1"),
        ('[logging]\nlevel = "loud"\n', "logging.level: must be one of"),
        ("[daemon]\nlease_ttl_s = 4.0\n", "must be greater than daemon.heartbeat_interval_s"),
    ],
)
def test_out_of_range_toml_value_names_key_and_range(tmp_path: Path, text: str, said: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=said.replace(".", r"\.")):
        load_settings(tmp_path, env={})


def test_values_at_the_bounds_are_accepted(tmp_path: Path) -> None:
    env = {
        "ORCH_DAEMON_MAX_AGENTS": "256",
        "ORCH_LIMITS_MAX_TURNS": "1",
        "ORCH_LIMITS_BUDGET_PER_RUN_USD": "0",
        "ORCH_LOGGING_LEVEL": "debug",
        "ORCH_MODEL_SIM_FAULTS": "429:0.1,latency:200ms",
    }
    settings = load_settings(tmp_path, env=env)
    assert settings.daemon.max_agents == 256 and settings.limits.max_turns == 1
    assert settings.model.sim_faults == "429:0.1,latency:200ms"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("ORCH_DAEMON_MAX_AGENT", "did you mean ORCH_DAEMON_MAX_AGENTS?"),
        ("ORCH_LIMIT_MAX_TURNS", "did you mean ORCH_LIMITS_MAX_TURNS?"),
        ("ORCH_HOMEDIR", "did you mean ORCH_HOME?"),
        ("ORCH_UNRELATED", ""),
    ],
)
def test_unknown_orch_variable_is_an_error_naming_the_closest(
    tmp_path: Path, name: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={name: "1"})
    assert str(info.value).startswith(f"unknown environment variable {name}")
    assert hint in str(info.value)
    if not hint:
        assert "did you mean" not in str(info.value)


def test_unknown_toml_key_names_the_closest(tmp_path: Path) -> None:
    write_config(tmp_path, "[daemon]\nmax_agent = 3\n")
    with pytest.raises(ConfigError, match="did you mean max_agents"):
        load_settings(tmp_path, env={})


def test_default_file_states_the_ranges() -> None:
    text = render_default_config()
    assert "Allowed: >= 1 and <= 256." in text
    assert "Allowed: one of debug, info, warning, error." in text


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    write_config(tmp_path, "[daemon\nmax_agents = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path, env={})


def test_config_error_is_bad_input() -> None:
    assert issubclass(ConfigError, UserInputError)


def test_rendered_default_parses_back_to_the_defaults(tmp_path: Path) -> None:
    text = render_default_config()
    data = tomllib.loads(text)
    assert set(data) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        # Every key is written, each with a comment that documents it.
        assert set(data[name]) == {f.name for f in dataclasses.fields(cls)}
    write_config(tmp_path, text)
    assert load_settings(tmp_path, env={}) == Settings(home=tmp_path.resolve())


def test_with_overrides_replaces_one_section(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    changed = with_overrides(settings, "daemon", max_agents=9)
    assert changed.daemon.max_agents == 9
    assert settings.daemon.max_agents == 4
    assert changed.limits == settings.limits


@pytest.mark.integration
def test_the_file_orch_init_writes_parses_back_to_the_defaults(home: Path) -> None:
    path = home / CONFIG_RELPATH
    assert path.is_file()
    assert path.read_text(encoding="utf-8") == render_default_config()
    assert load_settings(home, env={}) == Settings(home=home.resolve())


@pytest.mark.integration
def test_init_keeps_a_users_config(orch: OrchRunner, home: Path) -> None:
    write_config(home, "[daemon]\nmax_agents = 8\n")
    orch.ok("init")
    assert (home / CONFIG_RELPATH).read_text(encoding="utf-8") == "[daemon]\nmax_agents = 8\n"


@pytest.mark.integration
def test_cli_reports_a_bad_config_in_one_line(orch: OrchRunner, home: Path) -> None:
    write_config(home, "[daemon]\nmax_agent = 3\n")
    result = orch.fails("status")
    assert "daemon.max_agent" in result.err


@pytest.mark.integration
def test_cli_reports_a_bad_env_value_in_one_line(
    orch: OrchRunner, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_DAEMON_MAX_AGENTS", "many")
    result = orch.fails("status")
    assert "ORCH_DAEMON_MAX_AGENTS" in result.err


def test_every_numeric_key_declares_its_range() -> None:
    """A new int or float setting must say what it allows (``_key(..., Allowed(...))``)."""
    from orchestrator.config import ANY

    missing = [
        f"{name}.{f.name}"
        for name, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
        if str(f.type) in {"int", "float"} and f.metadata["allowed"] == ANY
    ]
    assert missing == []
