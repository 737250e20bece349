"""The sandbox the daemon's own commands run in, and the check that it can run at all."""

from __future__ import annotations

import os
import shlex
import socket
from pathlib import Path

import pytest

from orchestrator.agents.sandbox import DISABLE_SETTING, sandbox_problem
from orchestrator.config import load_settings, with_overrides
from orchestrator.daemon.checks import CommandPolicy, run_command
from orchestrator.daemon.sandboxing import require_sandbox, sandbox_mode
from orchestrator.domain.errors import UserInputError

SANDBOXED = CommandPolicy(env_passthrough=("PATH",), sandbox=True)


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / ".git").write_text("gitdir: /nowhere\n")
    return wt


async def test_a_sandboxed_command_writes_only_its_worktree_and_its_tmpdir(
    worktree: Path, tmp_path: Path
) -> None:
    marker = f"orch-sandbox-test-{os.getpid()}"
    readable = tmp_path / "script-input.txt"
    readable.write_text("readable from the host's /tmp\n")
    script = (
        'echo in > inside.txt; echo t > "$TMPDIR/private" && cat "$TMPDIR/private"; '
        f"cat {shlex.quote(str(readable))}; "
        f"echo x > ../outside.txt; echo y > /tmp/{marker}; echo z >> .git; "
        f"echo w > {Path.home()}/{marker}; exit 0"
    )
    result = await run_command(script, worktree, 30, merge_stderr=True, policy=SANDBOXED)
    assert result.exit_code == 0, result.stdout
    assert (worktree / "inside.txt").read_text() == "in\n"
    assert "t\n" in result.stdout
    # The host's /tmp can be read (a check's script may live there), not written.
    assert "readable from the host's /tmp" in result.stdout
    # ../, /tmp, .git and $HOME refuse.
    assert result.stdout.count("Read-only file system") == 4, result.stdout
    assert not (tmp_path / "outside.txt").exists()
    assert not Path(f"/tmp/{marker}").exists()
    assert not (Path.home() / marker).exists()
    assert (worktree / ".git").read_text() == "gitdir: /nowhere\n"


async def test_a_sandboxed_command_has_no_network(worktree: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        probe = (
            "python3 -c 'import socket,sys; "
            f'socket.create_connection(("127.0.0.1", {port}), 2); print("reached")\''
        )
        closed = await run_command(probe, worktree, 30, merge_stderr=True, policy=SANDBOXED)
        assert "reached" not in closed.stdout and closed.exit_code != 0
        opened = CommandPolicy(env_passthrough=("PATH",), sandbox=True, network=True)
        reached = await run_command(probe, worktree, 30, merge_stderr=True, policy=opened)
        assert "reached" in reached.stdout


def test_missing_bubblewrap_is_one_line_naming_the_package_and_the_setting(
    tmp_path: Path,
) -> None:
    problem = sandbox_problem(path_env=str(tmp_path))
    assert problem is not None and "\n" not in problem
    assert "bubblewrap" in problem and DISABLE_SETTING in problem
    assert sandbox_problem() is None  # installed here


def test_require_sandbox_refuses_and_the_mode_is_stated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(tmp_path, env={})
    assert sandbox_mode(settings).startswith("on")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserInputError, match="bubblewrap"):
        require_sandbox(settings)
    off = with_overrides(settings, "worker", sandbox=False)
    require_sandbox(off)  # the user said so: no refusal
    assert sandbox_mode(off).startswith("off")
