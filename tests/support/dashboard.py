"""A demo home for the dashboard's tests: the demo's setup plus a pending organizer proposal
(a new sub-track) and a WO whose title is markup, so escaping is visible."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import Settings, load_settings
from orchestrator.demo import DEMO_PROJECT, setup_demo
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.organization import OrganizeMode
from orchestrator.domain.proposal import validate_proposal
from orchestrator.store.sqlite_store import SQLiteStore

MARKUP_TITLE = "<script>alert('x')</script> & <b>bold</b>"


@dataclass(frozen=True)
class DemoHome:
    root: Path
    home: Path
    settings: Settings
    proposal_id: int
    markup_wo: str


def build_demo_home(root: Path) -> DemoHome:
    setup = setup_demo(root)
    store = SQLiteStore.open(setup.settings.db_path)
    try:
        markup = store.add_work_order(
            DEMO_PROJECT, WorkOrder(id="", title=MARKUP_TITLE, tags=("auth",)), source="cli"
        )
        state = store.org_state(DEMO_PROJECT)
        proposal = validate_proposal(
            state,
            OrganizeMode.INCREMENTAL,
            {
                "tracks": [
                    {"key": "audit", "name": "auth-audit", "goal": "Audit", "parent": "auth"}
                ],
                "assignments": [{"wo_id": markup.id, "tracks": ["audit"]}],
                "recommendations": ["audit work apart from login work"],
            },
        )
        row = store.add_proposal(
            DEMO_PROJECT, OrganizeMode.INCREMENTAL, state.fingerprint(), proposal.to_json()
        )
        assert row.id is not None
    finally:
        store.close()
    return DemoHome(root, setup.home, setup.settings, row.id, markup.id)


def copy_demo_home(template: DemoHome, target: Path) -> DemoHome:
    """A private copy to change (the project repository stays the template's)."""
    shutil.copytree(template.root / "home", target / "home")
    home = target / "home"
    return DemoHome(target, home, load_settings(home), template.proposal_id, template.markup_wo)
