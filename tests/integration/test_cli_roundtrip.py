"""Import, export, re-import into a fresh home: identical rows; re-import updates, idempotently."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES_DIR, OrchRunner, db_dump

pytestmark = [
    pytest.mark.integration,
]

#: A WO that uses what the samples do not: extra fields, a non-default status, unicode,
#: a float estimate, several dependencies, a multi-paragraph body.
RICH_WO = """\
---
id: WO-2026-021
title: "Résumé: export with ünïcode and a colon"
goal: Keep every field through a round trip
context:
  - first line
  - "second: with a colon"
acceptance_criteria:
  - It round-trips
non_goals: []
priority: 2
tags:
  - export
  - i18n
estimate_hours: 2.5
status: cancelled
created_at: 2026-02-03
updated_at: 2026-02-04
depends_on: [WO-2026-001, WO-2026-004]
owner: alice
links:
  issue: 42
  urls:
    - https://example.com/a
review:
  required: true
  reviewers: [bob, carol]
---
# Heading

First paragraph.

- a list item
- another

Last line without newline"""


@pytest.fixture
def backlog(tmp_path: Path) -> Path:
    """The 20 samples plus one rich WO, in a directory of their own."""
    directory = tmp_path / "backlog"
    shutil.copytree(SAMPLES_DIR, directory)
    (directory / "WO-2026-021_rich.md").write_text(RICH_WO, encoding="utf-8")
    return directory


def snapshot(orch: OrchRunner, home: Path) -> tuple[Any, dict[str, Any]]:
    """``wo list --json`` and ``wo show --json`` of every WO in ``home``."""
    rows = orch.json("wo", "list", home=home)
    shows = {r["id"]: orch.json("wo", "show", r["id"], home=home) for r in rows}
    return rows, shows


def fresh_home(orch: OrchRunner, tmp_path: Path, make_repo: Callable[..., Path], name: str) -> Path:
    home = tmp_path / name
    orch.ok("init", home=home)
    orch.ok("project", "add", make_repo(f"{name}-repo"), "--name", "demo", home=home)
    return home


def test_import_export_reimport_gives_identical_rows(
    orch: OrchRunner,
    project: str,
    backlog: Path,
    tmp_path: Path,
    make_repo: Callable[..., Path],
) -> None:
    assert "21 files: 21 new, 0 updated" in orch.ok("wo", "import", backlog).out
    rows, shows = snapshot(orch, orch.home)
    assert len(rows) == 21
    rich = shows["WO-2026-021"]
    assert rich["extra"] == {
        "owner": "alice",
        "links": {"issue": 42, "urls": ["https://example.com/a"]},
        "review": {"required": True, "reviewers": ["bob", "carol"]},
    }
    assert rich["status"] == "cancelled"
    assert rich["depends_on"] == ["WO-2026-001", "WO-2026-004"]
    assert rich["title"] == "Résumé: export with ünïcode and a colon"
    assert rich["context"] == ["first line", "second: with a colon"]

    exported = tmp_path / "exported"
    assert "Exported 21" in orch.ok("wo", "export", exported).out
    assert len(list(exported.glob("*.md"))) == 21

    other = fresh_home(orch, tmp_path, make_repo, "home2")
    assert "21 files: 21 new, 0 updated" in orch.ok("wo", "import", exported, home=other).out
    assert snapshot(orch, other) == (rows, shows)

    # Exporting the copy writes the same bytes: nothing drifts on a second round.
    again = tmp_path / "exported-again"
    orch.ok("wo", "export", again, home=other)
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in exported.iterdir())
    for path in exported.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_reimport_is_idempotent_and_updates_changed_files(
    orch: OrchRunner, project: str, backlog: Path
) -> None:
    orch.ok("wo", "import", backlog)
    before = db_dump(orch.home)
    assert "21 files: 0 new, 0 updated" in orch.ok("wo", "import", backlog).out
    # Nothing at all is written for an unchanged batch, not even an event.
    assert db_dump(orch.home) == before

    path = backlog / "WO-2026-002_runner-streaming-log-capture.md"
    text = path.read_text(encoding="utf-8")
    changed = re.sub(r"(?m)^priority: \d$", "priority: 4", text).replace(
        "title: Runner streaming log capture", "title: Runner log capture, renamed"
    )
    assert changed != text
    path.write_text(changed, encoding="utf-8")
    assert "21 files: 0 new, 1 updated" in orch.ok("wo", "import", backlog).out
    shown = orch.json("wo", "show", "WO-2026-002")
    assert shown["title"] == "Runner log capture, renamed"
    assert shown["priority"] == 4
    assert "1 files: 0 new, 0 updated" in orch.ok("wo", "import", path).out


def test_reimport_updates_dependencies_and_extra_fields(
    orch: OrchRunner, project: str, backlog: Path
) -> None:
    orch.ok("wo", "import", backlog)
    path = backlog / "WO-2026-021_rich.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("depends_on: [WO-2026-001, WO-2026-004]", "depends_on: [WO-2026-010]").replace(
            "owner: alice", "owner: dave"
        ),
        encoding="utf-8",
    )
    assert "1 files: 0 new, 1 updated" in orch.ok("wo", "import", path).out
    shown = orch.json("wo", "show", "WO-2026-021")
    assert shown["depends_on"] == ["WO-2026-010"]
    assert shown["extra"]["owner"] == "dave"
    listed = {r["id"]: r for r in orch.json("wo", "list")}
    assert listed["WO-2026-021"]["depends_on"] == ["WO-2026-010"]


def test_export_of_one_project_only(
    orch: OrchRunner,
    project: str,
    backlog: Path,
    tmp_path: Path,
    make_repo: Callable[..., Path],
) -> None:
    orch.ok("project", "add", make_repo("other"))
    orch.ok("wo", "import", backlog, "--project", project)
    orch.ok("wo", "add", "--project", "other", "--title", "elsewhere")
    out = tmp_path / "only-other"
    assert "Exported 1 " in orch.ok("wo", "export", out, "--project", "other").out
    [path] = out.iterdir()
    assert "title: elsewhere" in path.read_text(encoding="utf-8")
