"""`orch run` with the sandbox on but not runnable here: one line, exit 2, no worker."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner, db_dump, git, init_git_repo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_orch_run_without_bubblewrap_refuses_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    orch = OrchRunner(home)
    orch.ok("init")
    orch.ok("project", "add", init_git_repo(tmp_path / "proj"), "--name", "p", "--check", "true")
    orch.ok("wo", "add", "--project", "p", "--title", "Some work")
    orch.ok("track", "create", "--project", "p", "--name", "core", "--type", "feature")
    before = db_dump(home)
    # A PATH with git but without bwrap (and socat).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV, PATH=str(bin_dir))
    done = subprocess.run(
        [str(ORCH_SCRIPT), "--home", str(home), "run", "--exit-when-idle", "--model-backend=sim"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "bubblewrap" in lines[0] and "worker.sandbox = false" in lines[0]
    assert "Traceback" not in done.stderr
    assert db_dump(home) == before  # no run, no lease, nothing started


def test_status_says_which_mode_is_in_force(tmp_path: Path) -> None:
    home = tmp_path / "home"
    orch = OrchRunner(home)
    orch.ok("init")
    assert orch.json("status")["sandbox"].startswith("on")
    assert "worker sandbox: on" in orch.ok("status").out
    (home / "config" / "orchestrator.toml").write_text("[worker]\nsandbox = false\n")
    assert orch.json("status")["sandbox"].startswith("off")


def test_with_the_sandbox_off_workers_start_without_bubblewrap_and_plant_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    orch = OrchRunner(home)
    orch.ok("init")
    repo = init_git_repo(tmp_path / "proj")
    orch.ok("project", "add", repo, "--name", "p", "--check", "true")
    added = orch.ok("wo", "add", "--project", "p", "--title", "Some work")
    orch.ok("track", "create", "--project", "p", "--name", "core", "--type", "feature")
    orch.ok("track", "assign", "core", added.out.split()[1].rstrip(":"))
    orch.ok("track", "ready", "core")
    orch.ok("track", "activate", "core")
    (home / "config" / "orchestrator.toml").write_text("[worker]\nsandbox = false\n")
    # A PATH with git and a shell but without bwrap (and socat).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "bash", "sh"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV, PATH=str(bin_dir))
    done = subprocess.run(
        [str(ORCH_SCRIPT), "--home", str(home), "run", "--exit-when-idle", "--model-backend=sim"],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [wo["status"] for wo in orch.json("wo", "list")] == ["done"]
    # The CLI's env scrub would have planted empty .env, package.json, ... in each
    # session's cwd: the worktree (then committed) and, for decision agents, state/.
    committed = git(repo, "ls-tree", "-r", "--name-only", "tracks/core").split()
    assert not {".env", "package.json", ".npmrc"} & set(committed), committed
    assert not (home / "state" / ".env").exists()
