"""The ``orch`` command: argument parsing and wiring, nothing else."""

from orchestrator.cli.main import main

__all__ = ["main"]
