"""The CLI's happy paths: init, project, wo, track, status (in-process, real SQLite and git)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.store.sqlite_store import HEAD_REVISION
from tests.conftest import SAMPLES_DIR, OrchRunner, db_dump, git

pytestmark = pytest.mark.integration

WO_LIST_KEYS = {"id", "project", "title", "status", "priority", "tags", "depends_on", "tracks"}
TRACK_LIST_KEYS = {
    "id",
    "project",
    "name",
    "type",
    "status",
    "priority",
    "parent",
    "branch",
    "worktree",
    "wo_count",
    "done_count",
}


def year() -> int:
    return datetime.now(UTC).year


# --------------------------------------------------------------------------------- init


def test_init_creates_the_home(orch: OrchRunner, home_dir: Path) -> None:
    result = orch.ok("init")
    assert f"schema {HEAD_REVISION}" in result.out
    assert (home_dir / "config" / "orchestrator.toml").is_file()
    assert (home_dir / "state" / "orchestrator.db").is_file()
    assert (home_dir / "state" / "logs").is_dir()
    assert (home_dir / "workspaces").is_dir()
    # Worktrees live under workspaces/; they never show up in a repo holding the home.
    assert (home_dir / "workspaces" / ".gitignore").read_text() == "*\n"


def test_init_twice_is_idempotent(orch: OrchRunner, home: Path, project: str) -> None:
    orch.ok("wo", "add", "--title", "keep me")
    config = (home / "config" / "orchestrator.toml").read_text()
    before = db_dump(home)
    orch.ok("init")
    assert db_dump(home) == before
    assert (home / "config" / "orchestrator.toml").read_text() == config


def test_commands_need_an_initialized_home(orch: OrchRunner, home_dir: Path) -> None:
    for args in (("status",), ("wo", "list"), ("project", "list"), ("track", "list")):
        result = orch.fails(*args)
        assert "orch init" in result.err
    # A read command must not create the DB as a side effect.
    assert not (home_dir / "state" / "orchestrator.db").exists()


def test_home_from_the_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.conftest import run_main

    monkeypatch.setenv("ORCH_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    result = run_main(["status", "--json"])
    assert result.code == 0, str(result)
    assert result.json["projects"] == []


# ------------------------------------------------------------------------------ project


def test_project_add_defaults(orch: OrchRunner, home: Path, make_repo: Callable[..., Path]) -> None:
    repo = make_repo("My_Repo", branch="trunk")
    result = orch.ok("project", "add", repo)
    assert "my-repo" in result.out
    [row] = orch.json("project", "list")
    assert row == {
        "id": "my-repo",
        "path": str(repo.resolve()),
        "base_branch": "trunk",
        "check": "",
        "remote": None,
    }


def test_project_add_options(orch: OrchRunner, home: Path, make_repo: Callable[..., Path]) -> None:
    repo = make_repo("repo")
    git(repo, "branch", "develop")
    orch.ok(
        "project", "add", repo, "--name", "web", "--base-branch", "develop", "--check", "pytest -q"
    )
    assert orch.json("project", "list") == [
        {
            "id": "web",
            "path": str(repo.resolve()),
            "base_branch": "develop",
            "check": "pytest -q",
            "remote": None,
        }
    ]
    text = orch.ok("project", "list").out
    assert "web" in text and "pytest -q" in text


def test_project_list_is_sorted_by_name(
    orch: OrchRunner, home: Path, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("two", files={"README.md": "x\n"})
    other = make_repo("one")
    orch.ok("project", "add", repo)
    orch.ok("project", "add", other)
    assert [p["id"] for p in orch.json("project", "list")] == ["one", "two"]


def test_project_add_refuses_duplicates(
    orch: OrchRunner, home: Path, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("repo")
    orch.ok("project", "add", repo)
    before = db_dump(home)
    assert (
        "already exists" in orch.fails("project", "add", make_repo("repo2"), "--name", "repo").err
    )
    assert "already project" in orch.fails("project", "add", repo, "--name", "again").err
    assert db_dump(home) == before


def test_project_add_refuses_a_missing_base_branch(
    orch: OrchRunner, home: Path, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("repo")
    before = db_dump(home)
    result = orch.fails("project", "add", repo, "--base-branch", "nope")
    assert "nope" in result.err
    assert db_dump(home) == before


# ---------------------------------------------------------------------------------- wo


def test_wo_add_numbers_ids_per_year(orch: OrchRunner, project: str) -> None:
    first = orch.ok("wo", "add", "--title", "First")
    assert f"WO-{year()}-001" in first.out
    orch.ok(
        "wo",
        "add",
        "--project",
        project,
        "--title",
        "  Second  ",
        "--goal",
        "be second",
        "--priority",
        "1",
        "--tag",
        "ui",
        "--tag",
        "fast",
        "--depends-on",
        f"WO-{year()}-001",
    )
    shown = orch.json("wo", "show", f"WO-{year()}-002")
    assert shown["id"] == f"WO-{year()}-002"
    assert shown["project"] == project
    assert shown["title"] == "Second"
    assert shown["goal"] == "be second"
    assert shown["priority"] == 1
    assert shown["tags"] == ["ui", "fast"]
    assert shown["depends_on"] == [f"WO-{year()}-001"]
    assert shown["status"] == "backlog"
    assert shown["tracks"] == []


def test_wo_add_continues_after_the_highest_id(
    orch: OrchRunner, project: str, tmp_path: Path
) -> None:
    directory = tmp_path / "wos"
    directory.mkdir()
    wo_id = f"WO-{year()}-041"
    (directory / f"{wo_id}_x.md").write_text(f"---\nid: {wo_id}\ntitle: Imported\n---\n")
    orch.ok("wo", "import", directory)
    assert f"WO-{year()}-042" in orch.ok("wo", "add", "--title", "Next").out


def test_wo_add_needs_project_when_there_are_several(
    orch: OrchRunner, project: str, make_repo: Callable[..., Path]
) -> None:
    orch.ok("project", "add", make_repo("other"))
    before = db_dump(orch.home)
    assert "--project" in orch.fails("wo", "add", "--title", "x").err
    assert db_dump(orch.home) == before
    orch.ok("wo", "add", "--title", "x", "--project", "other")
    assert [w["project"] for w in orch.json("wo", "list")] == ["other"]


def test_wo_import_samples_and_list(orch: OrchRunner, project: str) -> None:
    result = orch.ok("wo", "import", SAMPLES_DIR)
    assert "20 files: 20 new, 0 updated" in result.out
    rows = orch.json("wo", "list")
    assert len(rows) == 20
    for row in rows:
        assert set(row) >= WO_LIST_KEYS
        assert row["project"] == project
        assert isinstance(row["tags"], list) and isinstance(row["depends_on"], list)
        assert row["tracks"] == []
    # By priority, then id.
    assert rows == sorted(rows, key=lambda r: (r["priority"], r["id"]))
    assert {r["id"] for r in rows} == {f"WO-2026-{n:03d}" for n in range(1, 21)}
    text = orch.ok("wo", "list").out
    assert "20 work orders" in text and "WO-2026-001" in text


def test_wo_list_filters(
    orch: OrchRunner, project: str, make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    orch.ok("project", "add", make_repo("other"))
    directory = tmp_path / "wos"
    directory.mkdir()
    for n, status in enumerate(["backlog", "ready", "ready", "cancelled"], start=1):
        wo_id = f"WO-2099-{n:03d}"
        (directory / f"{wo_id}.md").write_text(
            f"---\nid: {wo_id}\ntitle: W{n}\nstatus: {status}\n---\n"
        )
    orch.ok("wo", "import", directory, "--project", project)
    orch.ok("wo", "add", "--project", "other", "--title", "elsewhere")
    orch.ok("track", "create", "--project", project, "--name", "t1", "--type", "feature")
    orch.ok("track", "assign", "t1", "WO-2099-002", "WO-2099-004")

    def ids(*args: str) -> list[str]:
        return [r["id"] for r in orch.json("wo", "list", *args)]

    assert ids("--project", project) == [f"WO-2099-00{n}" for n in (1, 2, 3, 4)]
    assert ids("--project", "other") == [f"WO-{year()}-001"]
    assert ids("--status", "ready") == ["WO-2099-002", "WO-2099-003"]
    assert ids("--track", "t1") == ["WO-2099-002", "WO-2099-004"]
    assert ids("--track", "t1", "--status", "ready") == ["WO-2099-002"]
    assert ids("--project", "other", "--status", "ready") == []
    assert orch.json("wo", "list", "--track", "t1")[0]["tracks"] == ["t1"]


def test_wo_show_text_and_json(orch: OrchRunner, project: str) -> None:
    orch.ok("wo", "import", SAMPLES_DIR)
    data = orch.json("wo", "show", "WO-2026-001")
    assert set(data) >= WO_LIST_KEYS
    assert data["title"] == "Runner sandbox process isolation"
    assert data["priority"] == 1
    assert data["tags"] == ["runner", "security"]
    assert data["acceptance_criteria"][-1] == "Covered by automated tests"
    assert data["body"].startswith("## Notes")
    text = orch.ok("wo", "show", "WO-2026-001").out
    assert "WO-2026-001" in text and "Runner sandbox process isolation" in text
    assert "runner, security" in text


def test_wo_export_writes_every_wo(orch: OrchRunner, project: str, tmp_path: Path) -> None:
    orch.ok("wo", "import", SAMPLES_DIR)
    out = tmp_path / "export"
    result = orch.ok("wo", "export", out, "--project", project)
    assert "Exported 20" in result.out
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in SAMPLES_DIR.glob("*.md"))
    text = (out / "WO-2026-001_runner-sandbox-process-isolation.md").read_text()
    assert text.startswith("---\nid: WO-2026-001\n")
    assert not list(out.glob("*.tmp"))


# ------------------------------------------------------------------------------- track


def _import_some(orch: OrchRunner, tmp_path: Path, n: int) -> list[str]:
    directory = tmp_path / "some"
    directory.mkdir(exist_ok=True)
    ids = [f"WO-2099-{i:03d}" for i in range(1, n + 1)]
    for wo_id in ids:
        (directory / f"{wo_id}.md").write_text(f"---\nid: {wo_id}\ntitle: {wo_id}\n---\n")
    orch.ok("wo", "import", directory)
    return ids


def test_track_create_assign_list(orch: OrchRunner, project: str, tmp_path: Path) -> None:
    ids = _import_some(orch, tmp_path, 4)
    result = orch.ok(
        "track",
        "create",
        "--project",
        project,
        "--name",
        "ui",
        "--type",
        "feature",
        "--goal",
        "A nicer UI",
        "--priority",
        "2",
    )
    assert "tracks/ui" in result.out
    orch.ok("track", "create", "--project", project, "--name", "api", "--type", "fix")
    orch.ok(
        "track",
        "create",
        "--project",
        project,
        "--name",
        "ui-forms",
        "--type",
        "feature",
        "--parent",
        "ui",
    )
    assert "Assigned 3" in orch.ok("track", "assign", "ui", *ids[:3]).out
    # Assigning again changes nothing, not even the journal; a WO may be in several tracks.
    before = db_dump(orch.home)
    assert "Assigned 0" in orch.ok("track", "assign", "ui", *ids[:3]).out
    # Unassigning a WO that is not in the track is a mistake worth a line, and changes nothing.
    refused = orch.fails("track", "unassign", "ui", ids[3])
    assert "not assigned to track ui" in refused.err
    assert db_dump(orch.home) == before
    orch.ok("track", "assign", "api", ids[0])
    rows = orch.json("track", "list")
    for row in rows:
        assert set(row) >= TRACK_LIST_KEYS
    by_id = {r["id"]: r for r in rows}
    assert {k: by_id["ui"][k] for k in TRACK_LIST_KEYS} == {
        "id": "ui",
        "project": project,
        "name": "ui",
        "type": "feature",
        "status": "draft",
        "priority": 2,
        "parent": None,
        "branch": "tracks/ui",
        "worktree": None,
        "wo_count": 3,
        "done_count": 0,
    }
    assert by_id["api"]["type"] == "bugfix"
    assert by_id["api"]["wo_count"] == 1
    assert by_id["ui-forms"]["parent"] == "ui"
    # The sub-track comes right after its parent (parents before sub-tracks).
    order = [r["id"] for r in rows]
    assert order.index("ui-forms") == order.index("ui") + 1
    assert orch.json("wo", "show", ids[0])["tracks"] == ["api", "ui"]
    assert "Unassigned 1" in orch.ok("track", "unassign", "ui", ids[0]).out
    assert orch.json("wo", "show", ids[0])["tracks"] == ["api"]


def test_track_list_text_shows_sub_tracks_under_parent(orch: OrchRunner, project: str) -> None:
    orch.ok("track", "create", "--project", project, "--name", "zeta", "--type", "feature")
    orch.ok(
        "track",
        "create",
        "--project",
        project,
        "--name",
        "alpha",
        "--type",
        "feature",
        "--parent",
        "zeta",
    )
    orch.ok("track", "create", "--project", project, "--name", "beta", "--type", "feature")
    lines = orch.ok("track", "list").out.splitlines()
    zeta = next(i for i, line in enumerate(lines) if " zeta " in f" {line} ")
    assert "  alpha" in lines[zeta + 1]
    assert not any("  beta" in line for line in lines)


def test_track_list_filters(orch: OrchRunner, project: str, make_repo: Callable[..., Path]) -> None:
    orch.ok("project", "add", make_repo("other"))
    orch.ok("track", "create", "--project", project, "--name", "a", "--type", "feature")
    orch.ok("track", "create", "--project", project, "--name", "b", "--type", "experiment")
    orch.ok("track", "create", "--project", "other", "--name", "c", "--type", "feature")
    orch.ok("track", "ready", "b")

    def ids(*args: str) -> list[str]:
        return [r["id"] for r in orch.json("track", "list", *args)]

    assert ids() == ["a", "b", "c"]
    assert ids("--project", "other") == ["c"]
    assert ids("--status", "ready") == ["b"]
    assert ids("--type", "feature") == ["a", "c"]
    assert ids("--type", "exp") == ["b"]


def test_same_track_name_in_two_projects(
    orch: OrchRunner, project: str, make_repo: Callable[..., Path]
) -> None:
    orch.ok("project", "add", make_repo("other"))
    orch.ok("track", "create", "--project", project, "--name", "ui", "--type", "feature")
    orch.ok("track", "create", "--project", "other", "--name", "ui", "--type", "feature")
    rows = orch.json("track", "list")
    assert [(r["id"], r["project"], r["name"]) for r in rows] == [
        ("ui", project, "ui"),
        ("other-ui", "other", "ui"),
    ]


def test_track_show(orch: OrchRunner, project: str, tmp_path: Path) -> None:
    ids = _import_some(orch, tmp_path, 2)
    orch.ok(
        "track",
        "create",
        "--project",
        project,
        "--name",
        "ui",
        "--type",
        "feature",
        "--goal",
        "Nice",
    )
    orch.ok("track", "assign", "ui", *ids)
    data = orch.json("track", "show", "ui")
    assert data["id"] == "ui" and data["goal"] == "Nice" and data["status"] == "draft"
    assert [w["id"] for w in data["work_orders"]] == ids
    text = orch.ok("track", "show", "ui").out
    assert "ui" in text and "tracks/ui" in text


def _worktrees(repo: Path) -> dict[str, str]:
    """Worktree path -> branch ref, from ``git worktree list --porcelain``."""
    found: dict[str, str] = {}
    path = ""
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = line.split(" ", 1)[1]
            found[path] = ""
        elif line.startswith("branch "):
            found[path] = line.split(" ", 1)[1]
    return found


def test_activate_creates_a_worktree_and_archive_removes_it(
    orch: OrchRunner, home: Path, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("web", files={"README.md": "hi\n", "src/app.py": "x = 1\n"})
    orch.ok("project", "add", repo)
    orch.ok("track", "create", "--project", "web", "--name", "login", "--type", "feature")
    orch.ok("track", "ready", "login")
    assert orch.json("track", "list")[0]["worktree"] is None
    orch.ok("track", "activate", "login")

    worktree = (home / "workspaces" / "web" / "login").resolve()
    assert (worktree / "src" / "app.py").read_text() == "x = 1\n"
    assert _worktrees(repo).get(str(worktree)) == "refs/heads/tracks/login"
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip() == "tracks/login"
    assert git(worktree, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")
    [row] = orch.json("track", "list")
    assert row["status"] == "active"
    assert Path(row["worktree"]).resolve() == worktree

    orch.ok("track", "pause", "login")
    orch.ok("track", "resume", "login")
    orch.ok("track", "complete", "login")
    assert worktree.is_dir()  # completed still holds the worktree until archived
    orch.ok("track", "archive", "login")
    assert not worktree.exists()
    assert str(worktree) not in _worktrees(repo)
    assert git(repo, "branch", "--list", "tracks/login").strip().endswith("tracks/login")
    [row] = orch.json("track", "list")
    assert row["status"] == "archived"
    assert row["worktree"] is None


# ------------------------------------------------------------------------------ status


def test_status_json_shape(orch: OrchRunner, project: str) -> None:
    orch.ok("wo", "import", SAMPLES_DIR)
    orch.ok("track", "create", "--project", project, "--name", "a", "--type", "feature")
    orch.ok("track", "create", "--project", project, "--name", "b", "--type", "feature")
    orch.ok("track", "ready", "b")
    data = orch.json("status")
    assert {"daemon", "projects", "tracks", "work_orders", "runs"} <= set(data)
    assert data["daemon"] == {"running": False, "pid": None}
    assert data["tracks"] == {"draft": 1, "ready": 1}
    assert data["work_orders"] == {"backlog": 20}
    assert data["runs"] == []
    [entry] = data["projects"]
    assert entry["id"] == project
    text = orch.ok("status").out
    assert "daemon: stopped" in text and project in text


def test_status_of_an_empty_home(orch: OrchRunner, home: Path) -> None:
    data = orch.json("status")
    assert data["daemon"] == {"running": False, "pid": None}
    assert data["projects"] == [] and data["runs"] == []
    assert data["tracks"] == {} and data["work_orders"] == {}
