"""What every command needs: the state home, settings, the store, and output helpers."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings, load_settings
from orchestrator.domain.errors import UserInputError

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.store.contract import Store


@dataclass
class AppContext:
    """Lazily opened resources of one command invocation."""

    home: Path
    _settings: Settings | None = None
    _store: Store | None = None
    _console: Console | None = field(default=None, repr=False)

    @property
    def console(self) -> Console:
        # Imported on first use: --json output never needs rich (start-up time).
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home)
        return self._settings

    def require_initialized(self) -> None:
        settings = self.settings
        # With the state elsewhere (store.url), `orch init` has still made the home's dirs.
        here = settings.db_path if settings.uses_home_db else settings.state_dir
        if not here.exists():
            raise UserInputError(f"{self.home} is not an orchestrator home: run `orch init` first")

    @property
    def store(self) -> Store:
        if self._store is None:
            self.require_initialized()
            from orchestrator.host_identity import place_store

            store = _open_store()(self.settings.store_url)
            place_store(store, self.settings)
            self._store = store
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _open_store() -> Callable[[str], Store]:
    """Import the store (SQLAlchemy, SQLModel) with the cyclic GC paused.

    The import allocates ~10^5 objects; each GC pass on the way walks all of them again,
    which costs a read command 15-20% of its start-up. Nothing cyclic is freed meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        from orchestrator.store.sqlite_store import open_store
    finally:
        if enabled:
            gc.enable()
    return open_store


def resolve_home(option: Path | None) -> Path:
    if option is not None:
        return option.expanduser().resolve()
    env = os.environ.get("ORCH_HOME")
    return Path(env).expanduser().resolve() if env else Path.cwd()


def make_directory(path: Path, what: str) -> Path:
    """``path`` as a directory (created with its parents), or one line saying why not.

    A file in the way, a read-only or virtual file system (``/proc``), no permission: each is
    the user's input, refused before anything is written.
    """
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{what} {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"cannot create {what} {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserInputError(f"{what} {path} is not writable")
    return path


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")
