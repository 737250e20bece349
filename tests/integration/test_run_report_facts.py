"""What the run report tells the morning after beyond done and failed: proposals waiting
for review, WOs that no track carries, the merge commits; and `orch run --help` documents
the exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.models import WorkOrder
from orchestrator.domain.organization import OrganizeMode
from tests.conftest import git, run_main
from tests.integration.daemon_kit import by_role, open_home, run_fake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_report_lists_what_waits_for_a_human(home: Path, tmp_path: Path) -> None:
    h = open_home(home)
    repo = h.add_project("p", tmp_path / "repo")
    h.add_track("p", "t", 1)
    loose = h.store.add_work_order("p", WorkOrder(id="", title="Nobody carries me")).id
    proposal = h.store.add_proposal("p", OrganizeMode.INCREMENTAL, "fingerprint", {})
    report, _ = await run_fake(h, by_role())
    summary = report.summary
    assert [p["id"] for p in summary["pending_proposals"]] == [proposal.id]
    assert [w["id"] for w in summary["without_track"]] == [loose]
    merged = h.store.get_track("t").merged_commit
    assert merged is not None and git(repo, "rev-parse", "main").strip() == merged
    assert summary["merges"] == [{"track": "t", "commit": merged}]
    text = report.path.read_text()
    assert "## Proposals waiting for review" in text and f"- proposal {proposal.id} (p," in text
    assert "## Work orders without a track" in text and f"- {loose} [backlog]" in text
    assert f"- t: merge commit {merged}" in text
    # Nothing failed or blocked: the run's exit status would be 0.
    from orchestrator.daemon.report_facts import run_exit_status

    assert run_exit_status(summary) == (0, "")


def test_run_help_documents_the_exit_statuses() -> None:
    out = run_main(["run", "--help"]).out
    assert "Exit status: 0" in out and "3 when work orders failed" in out and "2 for bad" in out
