"""A project: one git repository the orchestrator works on, and how its work is checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Project:
    """A registered repository. ``path`` is this host's checkout of it: the repository
    itself on the host that added it, a clone under the home's ``clones/`` on the others."""

    id: str
    path: str
    base_branch: str
    created_at: datetime
    check_command: str = ""
    #: The shared git remote hosts exchange work through; empty for a one-host project.
    remote: str = ""
    #: The host that added the project (it works in the repository itself).
    host_id: str | None = None
    #: WOs created since the organizer last ran for this project (auto-organize trigger).
    new_wos_since_organize: int = 0
