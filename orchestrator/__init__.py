"""Track orchestrator: Claude coding agents in parallel tracks, each in its own git worktree."""

__version__ = "0.1.0"
