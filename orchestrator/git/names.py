"""Names the orchestrator gives to branches and refs, and their validation by git itself."""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain.errors import GitError, ValidationError
from orchestrator.domain.ids import validate_slug
from orchestrator.git.runner import run_git

TRACK_BRANCH_PREFIX = "tracks/"
CHECKPOINT_REF_PREFIX = "refs/orchestrator/checkpoints/"


class InvalidRefNameError(GitError, ValidationError):
    """A branch or ref name git would refuse; bad input, so nothing was changed.

    Both a GitError (callers around git operations catch it) and a ValidationError (the CLI
    reports it as bad input, exit status 2).
    """


def track_branch(track_slug: str) -> str:
    """The branch a track works on: ``tracks/<slug>``."""
    return TRACK_BRANCH_PREFIX + validate_slug(track_slug, "track id")


def checkpoint_ref(track_slug: str, number: int) -> str:
    """The ref that keeps a track's checkpoint snapshot number ``number``."""
    if number < 0:
        raise ValidationError(f"invalid checkpoint number {number}: must be 0 or more")
    return f"{CHECKPOINT_REF_PREFIX}{validate_slug(track_slug, 'track id')}/{number}"


def validate_branch_name(name: str, cwd: Path) -> str:
    """``name`` if git accepts it as a new branch name, else InvalidRefNameError."""
    # check-ref-format --branch expands "@{-1}" to a real branch name and accepts a leading
    # dash, which git branch then reads as an option: refuse both before asking git.
    if not name or name.startswith("-") or "@{" in name or name == "HEAD":
        raise InvalidRefNameError(f"invalid branch name {name!r}")
    result = run_git(["check-ref-format", "--branch", name], cwd, check=False)
    if not result.ok or result.stdout.strip() != name:
        raise InvalidRefNameError(f"invalid branch name {name!r}")
    return name


def validate_full_ref(ref: str, cwd: Path) -> str:
    """``ref`` if it is a full ref name under ``refs/`` outside branches and tags."""
    # A snapshot written under refs/heads/ would move a branch, possibly a checked-out one.
    if not ref.startswith("refs/") or ref.startswith(("refs/heads/", "refs/tags/")):
        raise InvalidRefNameError(f"invalid ref {ref!r}: expected refs/<namespace>/...")
    result = run_git(["check-ref-format", ref], cwd, check=False)
    if not result.ok:
        raise InvalidRefNameError(f"invalid ref {ref!r}")
    return ref
