"""The mirrored transcripts, as the daemon and the dashboard reach them: never the engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.store.base import StoreBase

if TYPE_CHECKING:
    from orchestrator.store.session_store import SQLiteSessionStore


class TranscriptQueries(StoreBase):
    # session_store imports claude_agent_sdk (and its MCP web stack): only when asked, so
    # the read commands start fast.
    def session_store(self) -> SQLiteSessionStore:
        """The SDK ``SessionStore`` adapter on this store's database (shares its engine,
        which the store disposes of on ``close``)."""
        from orchestrator.store.session_store import SQLiteSessionStore

        return SQLiteSessionStore(self.engine)

    def session_entries(self, session_id: str) -> list[dict[str, Any]]:
        """Every mirrored line of a session's main transcript, in order ([] if none)."""
        from orchestrator.store.session_store import load_session_entries

        return load_session_entries(self.engine, session_id)

    def carry_session(self, session_id: str, cwd: Path) -> bool:
        """Make a session mirrored under another directory resumable from ``cwd`` (a host
        taking a track over resumes its session in its own worktree); True if copied."""
        from claude_agent_sdk import project_key_for_directory

        from orchestrator.store.session_store import carry_session

        return carry_session(self.engine, session_id, project_key_for_directory(cwd))
