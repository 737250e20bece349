"""The morning after an overnight run, through the real CLI and the simulator: the run exits 3
naming what failed, the user fixes the base branch, retries, and the next run finishes on
the fix (the track branch took the base's new commits before the retried WO started)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import OrchRunner, db_dump, git

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SIM = ("--model-backend", "sim")


def test_fix_the_base_retry_and_run_again(
    home: Path,
    orch: OrchRunner,
    make_repo: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # where a user would run `orch`: not the source tree
    # The check needs a file only a fix on the base branch brings: every attempt fails.
    repo = make_repo("demo")
    orch.ok("project", "add", repo, "--check", "test -f fixed.txt")
    wo = orch.ok("wo", "add", "--title", "Needs the fix").out.split()[1].rstrip(":")
    orch.ok("track", "create", "--project", "demo", "--name", "t", "--type", "feature")
    orch.ok("track", "assign", "t", wo)
    orch.ok("track", "ready", "t")

    night = orch("run", *SIM, "--exit-when-idle")
    assert night.code == 3, str(night)
    assert f"Needs attention (failed: {wo}; blocked tracks: t)" in night.out
    assert "orch wo retry" in night.out
    report = Path(night.out.split("Report: ")[1].split()[0]).read_text()
    assert "## Failed work orders" in report and "test -f fixed.txt" in report
    shown = orch.json("wo", "show", wo)
    assert shown["status"] == "failed" and shown["attempts"] == 3
    assert orch.json("track", "show", "t")["status"] == "paused"

    # Resume alone would leave the track stuck: it says what to do, and changes nothing.
    before = db_dump(home)
    err = orch.fails("track", "resume", "t").err
    assert "blocked by 1 failed work orders" in err and "--retry-failed" in err
    assert db_dump(home) == before

    # The fix lands on the base branch; the failed WO is retried with a fresh budget.
    (repo / "fixed.txt").write_text("the fix\n")
    git(repo, "add", "fixed.txt")
    git(repo, "commit", "-q", "-m", "fix the base")
    fix = git(repo, "rev-parse", "HEAD").strip()
    retried = orch.ok("wo", "retry", "--failed").out
    assert f"Retried 1 work orders: {wo}" in retried and "Track t is active again" in retried
    shown = orch.json("wo", "show", wo)
    assert shown["status"] == "ready" and shown["attempts"] == 0
    assert "test -f fixed.txt" in shown["last_error"]  # the worker's next prompt carries it

    morning = orch("run", *SIM, "--exit-when-idle")
    assert morning.code == 0, str(morning)
    assert "Needs attention" not in morning.out
    assert orch.json("wo", "show", wo)["status"] == "done"
    track = orch.json("track", "show", "t")
    assert track["status"] == "completed"
    # The track branch took the base's fix by a merge (never a force) before the retry ran.
    merges = git(repo, "log", "--merges", "--format=%s", "tracks/t").splitlines()
    assert "Merge main into track t (before a retry)" in merges
    git(repo, "merge-base", "--is-ancestor", fix, "tracks/t")  # raises when it is not
    report = Path(morning.out.split("Report: ")[1].split()[0]).read_text()
    assert "## Merged into the base branch" in report
    assert f"- t: merge commit {track['merged_commit']}" in report
