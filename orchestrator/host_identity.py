"""This home's host id: made once, kept in ``state/host-id``, the same on every start.

Several homes may share one database; the id tells their daemons apart in the track leases,
``orch hosts`` and the events. ``orch init --host-id NAME`` chooses it; otherwise it is
derived from the machine's name and the home's path the first time it is needed.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config import Settings
from orchestrator.domain.errors import ConfigError, ValidationError
from orchestrator.domain.hosts import host_id_from, validate_host_id

if TYPE_CHECKING:
    from orchestrator.store.work_contract import ProjectStore


def host_id_path(settings: Settings) -> Path:
    return settings.state_dir / "host-id"


def read_host_id(settings: Settings) -> str | None:
    """The stored id, None if none was made yet; ConfigError if the file is not one."""
    path = host_id_path(settings)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return validate_host_id(text)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def ensure_host_id(settings: Settings, wanted: str | None = None) -> str:
    """The home's host id, made and stored if it has none. ``wanted`` names it; a home
    that has a different id already keeps it (refused: leases and events use the old one)."""
    if wanted is not None:
        validate_host_id(wanted)
    current = read_host_id(settings)
    if current is not None:
        if wanted is not None and wanted != current:
            raise ValidationError(
                f"this home's host id is {current!r} already; it cannot become {wanted!r}"
            )
        return current
    digest = hashlib.sha256(str(settings.home.resolve()).encode()).hexdigest()
    host_id = wanted or host_id_from(socket.gethostname(), digest)
    path = host_id_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"host-id.{os.getpid()}.tmp")
    tmp.write_text(host_id + "\n", encoding="utf-8")
    tmp.replace(path)
    return host_id


def clones_dir(settings: Settings) -> Path:
    """Where this home keeps its clones of projects added on other hosts."""
    return settings.home / "clones"


def place_store(store: ProjectStore, settings: Settings) -> None:
    """Tell ``store`` this home's host id and clones directory (see ``store.projects``)."""
    store.place_here(ensure_host_id(settings), clones_dir(settings))
