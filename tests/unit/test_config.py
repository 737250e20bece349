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
    assert settings.daemon.queue_size == 10
    assert settings.limits.max_turns == 60
    assert settings.limits.max_cost_per_run_usd == 5.0
    assert settings.model.backend == "claude"
    assert settings.organizer.auto_apply_incremental is False
    assert settings.logging.secret_env_vars == ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
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
    assert settings.daemon.queue_size == 10


def test_env_overrides_toml(tmp_path: Path) -> None:
    write_config(tmp_path, "[daemon]\nmax_agents = 8\n")
    env = {
        "ORCH_DAEMON_MAX_AGENTS": "2",
        "ORCH_MODEL_BACKEND": "sim",
        "ORCH_LIMITS_MAX_COST_PER_RUN_USD": "0.5",
        "ORCH_ORGANIZER_AUTO_APPLY_INCREMENTAL": "yes",
        "ORCH_LOGGING_SECRET_ENV_VARS": "A_KEY, B_KEY",
        "ORCH_UNRELATED": "ignored",
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
