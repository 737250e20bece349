"""The fast read commands' grammar and their guard on settings (no typer, no store)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.cli import fast
from orchestrator.config import render_default_config


def test_the_default_config_hash_is_current() -> None:
    """A changed default config must change the hash, or every home would take the full CLI
    (correct, only slow): update ``cli.fast.DEFAULT_CONFIG_SHA256`` to this value."""
    digest = hashlib.sha256(render_default_config().encode("utf-8")).hexdigest()
    assert digest == fast.DEFAULT_CONFIG_SHA256


@pytest.mark.parametrize(
    ("argv", "command", "options"),
    [
        (["status", "--json"], "status", {}),
        (["--home", "H", "status", "--json"], "status", {}),
        (["--home=H", "track", "list", "--json"], "track list", {}),
        (["wo", "list", "--track", "T", "--json"], "wo list", {"track": "T"}),
        (["--home", "H", "wo", "list", "--json", "--track", "T"], "wo list", {"track": "T"}),
        (["wo", "list", "--track=T", "--json"], "wo list", {"track": "T"}),
    ],
)
def test_the_three_reads_are_recognised(
    argv: list[str], command: str, options: dict[str, str]
) -> None:
    parsed = fast.parse(argv)
    assert parsed is not None
    assert parsed[1:] == (command, options)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["status"],
        ["status", "--json", "--help"],
        ["--help"],
        ["--home"],
        ["--home", "--json", "status"],
        ["--homes", "H", "status", "--json"],
        ["track", "list", "--json", "--status", "active"],
        ["track", "list", "--project", "p", "--json"],
        ["wo", "list", "--json"],
        ["wo", "list", "--track", "--json"],
        ["wo", "list", "--track", "T"],
        ["wo", "list", "--track", "T", "--track", "U", "--json"],
        ["wo", "list", "--track", "T", "--status", "done", "--json"],
        ["wo", "list", "--track", "T", "--json", "--json"],
        ["wo", "list", "--track=", "--json"],
        ["wo", "list", "--track", "-x", "--json"],
        ["status", "--json", "extra"],
    ],
)
def test_anything_else_goes_to_the_full_cli(argv: list[str]) -> None:
    assert fast.parse(argv) is None


def test_settings_other_than_the_defaults_go_to_the_full_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config" / "orchestrator.toml"
    assert fast.settings_are_default(tmp_path)  # no config file: the defaults
    config.parent.mkdir()
    config.write_text(render_default_config(), encoding="utf-8")
    assert fast.settings_are_default(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    assert fast.settings_are_default(tmp_path)
    monkeypatch.setenv("ORCH_DAEMON_MAX_AGENTS", "3")
    assert not fast.settings_are_default(tmp_path)
    monkeypatch.delenv("ORCH_DAEMON_MAX_AGENTS")
    config.write_text(render_default_config() + "\n[daemon]\n", encoding="utf-8")
    assert not fast.settings_are_default(tmp_path)


def test_a_list_is_laid_out_as_json_dumps_does() -> None:
    import json

    rows = [{"a": 1, "b": ["x\ny", {"c": None}]}, {"a": "ü"}]
    for value in ([], rows[:1], rows):
        expected = json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n"
        assert fast.json_list(iter(value)) == expected
