"""Redaction before anything is stored: token shapes, configured values, every DB write."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.agents.environment import redact_files
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.redaction import (
    REDACTED,
    Redactor,
    active_redactor,
    secret_values,
    use_redactor,
)
from orchestrator.store.sqlite_store import SQLiteStore

GHP = "ghp_" + "0123456789abcdefABCDEF0123456789abcd"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA+/=\nabc\n-----END RSA PRIVATE KEY-----"
TOKENS = [
    "sk-ant-api03-abcdefghijklmnop",
    GHP,
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "xoxb-123456789012-abcdefghij",
    "xoxp-123456789012-abcdefghij",
    "AKIAABCDEFGHIJKLMNOP",
    PEM,
]


@pytest.fixture
def redactor() -> Iterator[Redactor]:
    previous = active_redactor()
    mine = Redactor(secret_values({"MY_DB_PASSWORD": "hunter2-hunter2", "HOME": "/home/me"}))
    use_redactor(mine)
    yield mine
    use_redactor(previous)


@pytest.mark.parametrize("token", TOKENS)
def test_token_shapes_are_redacted(token: str) -> None:
    assert Redactor().redact(f"before {token} after") == f"before {REDACTED} after"


def test_secret_names_and_listed_names_give_values() -> None:
    env = {"MY_DB_PASSWORD": "pw-123456789", "DEPLOY": "deploy-key-0001", "HOME": "/root/x"}
    assert secret_values(env) == ["pw-123456789"]
    assert sorted(secret_values(env, ["DEPLOY"])) == ["deploy-key-0001", "pw-123456789"]


def test_configured_values_are_redacted_but_short_ones_are_not(redactor: Redactor) -> None:
    assert redactor.redact("pw=hunter2-hunter2!") == f"pw={REDACTED}!"
    assert Redactor(["abc"]).redact("abc") == "abc"


def test_a_cut_off_pem_block_inside_json_keeps_the_json_valid() -> None:
    text = json.dumps({"output": "key: " + PEM[:45], "n": 1})
    assert json.loads(Redactor().redact(text)) == {"output": f"key: {REDACTED}", "n": 1}


def test_redact_data_walks_json_like_values() -> None:
    data = {"a": [GHP, {"b": ("x", GHP)}], "n": 3}
    assert Redactor().redact_data(data) == {"a": [REDACTED, {"b": ("x", REDACTED)}], "n": 3}


def test_every_db_write_is_redacted(tmp_path: Path, redactor: Redactor) -> None:
    store = SQLiteStore.open(tmp_path / "o.db")
    try:
        store.add_project("p", str(tmp_path), "main", "make check")
        wo = store.add_work_order(
            "p", WorkOrder(id="", title=f"leaks {GHP}", goal="password hunter2-hunter2")
        )
        with store.writing() as session:
            store.journal(session, "wo_note", "wo", wo.id, output=f"{TOKENS[0]} {PEM}")
    finally:
        store.close()
    dump = "\n".join(sqlite3.connect(tmp_path / "o.db").iterdump())
    assert REDACTED in dump
    for secret in [*TOKENS, "hunter2-hunter2"]:
        assert secret not in dump


def test_redact_files_rewrites_transcripts_under_a_config_dir(
    tmp_path: Path, redactor: Redactor
) -> None:
    transcript = tmp_path / "projects" / "p" / "s.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(json.dumps({"content": f"out {GHP} hunter2-hunter2"}) + "\n")
    (tmp_path / "clean.json").write_text("{}")
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe" + GHP.encode())
    assert redact_files(tmp_path) == 1
    assert json.loads(transcript.read_text()) == {"content": f"out {REDACTED} {REDACTED}"}
    assert redact_files(None) == 0


def test_secret_sounding_assignments_are_masked_even_when_the_value_is_unknown() -> None:
    # As a worker's `env` prints the CLI sandbox's per-session proxy credentials.
    printed = (
        "CLOUDSDK_PROXY_PASSWORD=q8Zr2LmN0pXw\\nHTTP_PROXY=http://localhost:3128\\n"
        "MY_API_KEY=abcdefgh12345\nLANG=C.UTF-8 total_tokens=123456789"
    )
    masked = Redactor().redact(printed)
    assert "q8Zr2LmN0pXw" not in masked and "abcdefgh12345" not in masked
    assert "CLOUDSDK_PROXY_PASSWORD=[REDACTED]" in masked
    # Ordinary variables, short values and lower-case code stay as they were.
    assert "HTTP_PROXY=http://localhost:3128" in masked and "LANG=C.UTF-8" in masked
    assert "total_tokens=123456789" in masked
    assert Redactor().redact("GITHUB_TOKEN=short") == "GITHUB_TOKEN=short"
