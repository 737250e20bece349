"""This daemon as one host among several on a shared database: registration and heartbeat.

The home's host id (``state/host-id``) is made on the first start. The daemon registers the
host when it takes its home's lease (and clones the shared projects it has no checkout of);
its track leases (``ownership``) are renewed with every heartbeat, so ``orch hosts`` on any
home shows when it was last heard from and what it holds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import anyio

from orchestrator.daemon.context import DaemonContext
from orchestrator.git.remote import clone_from
from orchestrator.host_identity import ensure_host_id
from orchestrator.store.contract import Store


def host_id_of(ctx: DaemonContext) -> str:
    return ensure_host_id(ctx.settings)


async def register_host(ctx: DaemonContext) -> str:
    """Record this home as a live host; returns its id."""
    host_id = host_id_of(ctx)
    home = str(ctx.settings.home)
    await anyio.to_thread.run_sync(
        lambda: ctx.store.register_host(host_id, socket.gethostname(), home, os.getpid())
    )
    await anyio.to_thread.run_sync(ensure_clones, ctx.store, ctx.log)
    return host_id


def ensure_clones(store: Store, log: Any) -> list[str]:
    """Clone, from its remote, every shared project this host has no checkout of yet."""
    made = []
    for project in store.list_projects():
        target = Path(project.path)
        if project.remote and not target.exists():
            clone_from(project.remote, target, project.base_branch)
            log.info("project_cloned", project=project.id, remote=project.remote)
            made.append(project.id)
    return made
