"""The ``orch`` command: argument parsing and wiring, nothing else."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """The console script: the fast reads first (no typer), else the full CLI."""
    from orchestrator.cli.fast import run_read_command

    run_read_command(sys.argv[1:] if argv is None else argv)
    from orchestrator.cli.main import main as full_cli

    # Importing the module ``cli.main`` binds it over this function on the package.
    globals()["main"] = _entry
    full_cli(argv)


_entry = main

__all__ = ["main"]
