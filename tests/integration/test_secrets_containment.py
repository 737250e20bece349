"""Secrets stay with the daemon: a real `orch run` (real CLI, simulator) with canaries.

The daemon's environment holds a GitHub token and a database password; the project's check
prints ``$GITHUB_TOKEN`` and a literal token-shaped string. Every process marked as one of
this home's agents is sampled while the run goes on: none has a canary in its environment.
Afterwards neither canary nor literal is anywhere in the DB, under ``state/`` or in the
project's git history, and the redaction marker shows the output was stored, redacted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from orchestrator.agents.processes import OWNER_ENV
from orchestrator.config import load_settings
from tests.conftest import ISOLATED_GIT_ENV, ORCH_SCRIPT, OrchRunner, db_dump, git, init_git_repo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CANARIES = {"GITHUB_TOKEN": "canary-gh-8d3f2a91c7", "MY_DB_PASSWORD": "canary-db-5e1b9f04aa"}
LITERAL = "ghp_0123456789abcdefABCDEF0123456789abcd"
# printf assembles the literal, so the check command itself (stored as the project's
# configuration) holds nothing token-shaped.
CHECK = (
    "printf 'token=[%s] literal=ghp_%s\\n' \"$GITHUB_TOKEN\" 0123456789abcdefABCDEF0123456789abcd;"
    " sleep 1; exit 1"
)


def _marked(owner: str) -> list[tuple[list[str], dict[str, str]]]:
    seen = []
    for proc in psutil.process_iter():
        try:
            # cmdline first: should the launcher exec in between, the environment read
            # after it is the CLI's, never the launcher's under the CLI's name.
            cmdline = proc.cmdline()
            env = proc.environ()
            if env.get(OWNER_ENV) == owner:
                seen.append((cmdline, env))
        except (psutil.Error, OSError):
            continue
    return seen


def test_no_agent_sees_the_daemons_secrets_and_nothing_secret_is_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    orch = OrchRunner(home)
    orch.ok("init")
    repo = init_git_repo(tmp_path / "proj")
    orch.ok("project", "add", repo, "--name", "p", "--check", CHECK)
    added = orch.ok("wo", "add", "--project", "p", "--title", "Leaky check")
    wo_id = re.search(r"WO-\d{4}-\d{3}", added.out).group(0)  # type: ignore[union-attr]
    orch.ok("track", "create", "--project", "p", "--name", "core", "--type", "feature")
    orch.ok("track", "assign", "core", wo_id)
    orch.ok("track", "ready", "core")
    orch.ok("track", "activate", "core")
    owner = load_settings(home, env={}).owner_id

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV, **CANARIES, ORCH_LIMITS_MAX_ATTEMPTS="1")
    daemon = subprocess.Popen(
        [str(ORCH_SCRIPT), "--home", str(home), "run", "--exit-when-idle", "--model-backend=sim"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampled: list[tuple[list[str], dict[str, str]]] = []
    try:
        # Sample until the daemon exits (bounded by the timeout below).
        while daemon.poll() is None:
            sampled += _marked(owner)
            time.sleep(0.05)  # a poll interval, not a wait for something
        _out, err = daemon.communicate(timeout=240)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert "Traceback" not in err, err

    # The run really happened: a CLI and the shell running the check were seen.
    assert any(os.path.basename(cmd[0]) == "claude" for cmd, _ in sampled if cmd)
    assert any("sleep 1" in " ".join(cmd) for cmd, _ in sampled)
    for cmd, environ in sampled:
        assert not set(CANARIES.values()) & set(environ.values()), cmd[:2]
        # Caught between fork and exec, the launcher holds the names blanked; the CLI and
        # everything it runs do not have them at all.
        if not (cmd and cmd[0] == sys.executable and cmd[1:2] == ["-I"]):
            assert not set(CANARIES) & set(environ), cmd[:2]

    dump = "\n".join(db_dump(home))
    assert "token=[]" in dump and "[REDACTED]" in dump  # the output was stored, redacted
    files = [p for p in (home / "state").rglob("*") if p.is_file() and not p.is_symlink()]
    history = git(repo, "log", "--all", "-p", "--format=%B")
    for secret in [*CANARIES.values(), LITERAL]:
        assert secret not in dump
        assert secret not in history
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
