"""Parameter parsers shared by the commands."""

from __future__ import annotations

from pathlib import Path

import typer


def non_empty_path(value: str | Path) -> Path:
    """A path given on the command line. An empty string (typically an unset shell variable,
    ``orch wo export "$OUT"``) is refused rather than read as the current directory."""
    if isinstance(value, Path):
        return value
    if not value.strip():
        raise typer.BadParameter("an empty path is not allowed")
    return Path(value)
