"""`orch hosts`, `orch status` and `orch init --host-id` on homes sharing one database.

Until a database URL setting exists, two homes share one SQLite file by a symlink from each
home's ``state/orchestrator.db``; the leases are taken through the store, as a daemon does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.store.sqlite_store import SQLiteStore
from tests.conftest import OrchRunner

pytestmark = pytest.mark.integration


def shared_homes(tmp_path: Path, orch: OrchRunner, names: tuple[str, ...]) -> list[Path]:
    shared = tmp_path / "shared" / "orchestrator.db"
    shared.parent.mkdir()
    homes = []
    for name in names:
        home = tmp_path / name
        (home / "state").mkdir(parents=True)
        (home / "state" / "orchestrator.db").symlink_to(shared)
        orch.ok("init", "--host-id", name, home=home)
        homes.append(home)
    return homes


def test_hosts_and_status_show_every_host_with_its_tracks(
    tmp_path: Path, orch: OrchRunner, make_repo: Callable[..., Path]
) -> None:
    alpha, beta = shared_homes(tmp_path, orch, ("alpha", "beta"))
    orch.ok("project", "add", make_repo("demo"), home=alpha)
    orch.ok("track", "create", "--project", "demo", "--name", "t1", "--type", "feature", home=beta)
    store = SQLiteStore.open(alpha / "state" / "orchestrator.db")
    store.register_host("alpha", "box-a", str(alpha), 4242)
    store.register_host("beta", "box-b", str(beta), None)
    assert store.acquire_track_lease("t1", "alpha", 600.0) is not None
    store.close()

    listed = {h["id"]: h for h in orch.json("hosts", home=beta)}
    assert sorted(listed) == ["alpha", "beta"]
    assert listed["beta"]["this_home"] and not listed["alpha"]["this_home"]
    assert listed["alpha"]["pid"] == 4242 and listed["alpha"]["home"] == str(alpha)
    (lease,) = listed["alpha"]["tracks"]
    assert lease["track"] == "t1" and lease["ttl_s"] == 600.0 and not lease["expired"]
    assert 0 <= lease["age_s"] < 60
    assert listed["beta"]["tracks"] == []

    status = orch.json("status", home=alpha)
    assert [h["id"] for h in status["hosts"]] == ["alpha", "beta"]
    assert status["hosts"][0]["this_home"] and status["hosts"][0]["tracks"][0]["track"] == "t1"

    text = orch.ok("status", home=alpha).out
    assert "alpha *" in text and "t1 (" in text and "box-b" in text
    assert "t1 (" in orch.ok("hosts", home=beta).out


def test_no_host_yet(home: Path, orch: OrchRunner) -> None:
    assert orch.json("hosts") == []
    assert orch.json("status")["hosts"] == []
    assert "No host has registered yet" in orch.ok("hosts").out


def test_host_id_is_validated_and_fixed_once_made(tmp_path: Path, orch: OrchRunner) -> None:
    home = tmp_path / "h"
    for bad in ("Upper", "-dash", "a/b", "x" * 65):
        result = orch.fails("init", "--host-id", bad, home=home)
        assert result.err.startswith("orch: error: invalid host id"), result.err
        assert not home.exists()  # refused before anything is written
    orch.ok("init", "--host-id", "box-1", home=home)
    assert (home / "state" / "host-id").read_text() == "box-1\n"
    orch.ok("init", "--host-id", "box-1", home=home)  # the same again is fine
    refused = orch.fails("init", "--host-id", "box-2", home=home)
    assert "host id is 'box-1' already" in refused.err
    (home / "state" / "host-id").write_text("Not A Slug\n")
    damaged = orch.fails("hosts", home=home)
    assert "host-id" in damaged.err and "invalid host id" in damaged.err
