"""Helpers for tests that need a real repository (ours and those of the layers above)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orchestrator.git.repo import GitRepo
from orchestrator.git.runner import run_git

#: Environment that hides the machine's git configuration, proving none is needed.
ISOLATED_GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def write_files(root: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` (relative path -> text) under ``root``, creating directories."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def init_repo(
    path: Path,
    files: Mapping[str, str] | None = None,
    *,
    branch: str = "main",
    message: str = "initial commit",
) -> GitRepo:
    """A new repository at ``path`` on ``branch`` with one commit holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    run_git(["init", "--quiet", f"--initial-branch={branch}", str(path)], path)
    repo = GitRepo(path)
    write_files(path, files if files is not None else {"README.md": "hello\n"})
    repo.commit_all(path, message)
    return repo
