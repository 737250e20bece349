"""``store.url``: which database the store opens, checked at the edge, its password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import CONFIG_RELPATH, load_settings
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.redaction import mask_url_password, url_password

PG_URL = "postgresql+psycopg://orch:s3cret-pw@db.example:5432/orch"


def test_default_is_the_homes_sqlite_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.store.url == ""
    assert settings.store_url == f"sqlite:///{tmp_path.resolve()}/state/orchestrator.db"
    assert settings.uses_home_db
    assert settings.secrets == ()


def test_env_and_toml_select_postgres(tmp_path: Path) -> None:
    from_env = load_settings(tmp_path, env={"ORCH_STORE_URL": PG_URL})
    assert from_env.store_url == PG_URL
    assert not from_env.uses_home_db
    path = tmp_path / CONFIG_RELPATH
    path.parent.mkdir(parents=True)
    path.write_text(f'[store]\nurl = "{PG_URL}"\n', encoding="utf-8")
    assert load_settings(tmp_path, env={}).store_url == PG_URL


def test_password_is_a_secret_in_both_spellings(tmp_path: Path) -> None:
    url = "postgresql+psycopg://orch:p%40ss-word@db/orch"
    settings = load_settings(tmp_path, env={"ORCH_STORE_URL": url})
    assert set(settings.secrets) == {"p%40ss-word", "p@ss-word"}


@pytest.mark.parametrize(
    "url",
    [
        "mysql://orch:s3cret-pw@db/orch",
        "postgresql://orch:s3cret-pw@db/orch",  # the driver is named: psycopg 3
        "sqlite://relative.db",
    ],
)
def test_other_schemes_are_refused_without_the_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={"ORCH_STORE_URL": url})
    message = str(caught.value)
    assert "ORCH_STORE_URL (store.url)" in message
    assert "postgresql+psycopg://" in message
    assert "s3cret-pw" not in message


def test_mask_and_extract() -> None:
    assert url_password(PG_URL) == "s3cret-pw"
    assert mask_url_password(PG_URL) == "postgresql+psycopg://orch:***@db.example:5432/orch"
    no_password = "postgresql+psycopg://orch@db/orch"
    assert url_password(no_password) is None
    assert mask_url_password(no_password) == no_password
    # A path with ':' and '@' in a SQLite URL has no user info to mask.
    odd_path = "sqlite:////srv/a:b@c/orch.db"
    assert url_password(odd_path) is None
    assert mask_url_password(odd_path) == odd_path
