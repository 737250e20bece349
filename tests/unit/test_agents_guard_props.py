"""Property: no path the worktree guard allows ever writes outside the worktree or under .git.

The oracle is the kernel, not our resolver: every allowed path is really opened for writing
(parents created as the tools would), and ``/proc/self/fd`` says where the write landed;
the directories outside the worktree are compared before and after.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.agents.guard import write_denial


@dataclass(frozen=True)
class Tree:
    root: Path
    outside: Path
    main_git: Path


@pytest.fixture(scope="module")
def tree() -> Iterator[Tree]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(os.path.realpath(tmp))
        root, outside, main_git = base / "root", base / "outside", base / "main" / ".git"
        (root / "sub").mkdir(parents=True)
        outside.mkdir()
        main_git.mkdir(parents=True)
        (main_git / "HEAD").write_text("ref: refs/heads/main\n")
        (outside / "secret").write_text("keep")
        (root / ".git").write_text(f"gitdir: {main_git}/worktrees/root\n")
        (root / "link_out").symlink_to(outside)
        (root / "link_in").symlink_to(root / "sub")
        (root / "sub" / "link_up").symlink_to("../..")
        (root / "link_git").symlink_to(main_git)
        (root / "link_repo").symlink_to(main_git.parent)
        (root / "link_proc").symlink_to("/proc/self/cwd")
        (root / "dangling_out").symlink_to(outside / "made_by_link")
        os.link(outside / "secret", root / "hard")
        (root / "null").symlink_to("/dev/null")
        # /proc/self/cwd is then outside: a guard that let it through would show up.
        previous = os.getcwd()
        os.chdir(outside)
        try:
            yield Tree(root, outside, main_git)
        finally:
            os.chdir(previous)


COMPONENTS = st.sampled_from(
    [
        "a", "b", "sub", "..", ".", "", ".git", ".GIT", "HEAD", "link_out", "link_in",
        "link_up", "link_git", "link_repo", "link_proc", "dangling_out", "hard", "null",
        "secret", "~",
    ]
)  # fmt: skip
ODD_COMPONENTS = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\x00\n\udc80"))


#: Where a generated path starts; ROOT stands for the worktree's absolute path.
STARTS = st.sampled_from(["", "", "", "ROOT/", "/", "/tmp/", "/proc/self/cwd/", "~/"])
# Mostly the tree's own names (short paths hit its links); now and then odd text.
PARTS = st.lists(
    st.one_of(COMPONENTS, COMPONENTS, COMPONENTS, ODD_COMPONENTS), min_size=1, max_size=4
)


def _snapshot(*dirs: Path) -> set[tuple[str, int, int]]:
    seen = set()
    for top in dirs:
        for here, subdirs, files in os.walk(top):
            for name in subdirs + files:
                info = os.lstat(os.path.join(here, name))
                seen.add((os.path.join(here, name), info.st_size, info.st_mtime_ns))
    return seen


def _write_as_a_tool_would(path: str, cwd: Path) -> str | None:
    """Where the kernel put the write, or None when the OS refused it."""
    joined = os.path.join(cwd, os.path.expanduser(path))
    with contextlib.suppress(OSError, ValueError):
        os.makedirs(os.path.dirname(joined), exist_ok=True)
    try:
        fd = os.open(joined, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o644)
    except (OSError, ValueError):
        return None
    try:
        os.write(fd, b"x")
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=STARTS, parts=PARTS, in_sub=st.booleans())
@example(start="", parts=["hard"], in_sub=False)
@example(start="", parts=["link_in", "link_up", "hard"], in_sub=False)
@example(start="", parts=["dangling_out"], in_sub=False)
@example(start="", parts=["link_repo", ".git", "HEAD"], in_sub=False)
@example(start="ROOT/", parts=["sub", "link_up", "..", "outside", "x"], in_sub=True)
def test_no_allowed_path_lands_outside_or_under_git(
    tree: Tree, start: str, parts: list[str], in_sub: bool
) -> None:
    path = start.replace("ROOT", str(tree.root)) + "/".join(parts)
    cwd = tree.root / "sub" if in_sub else tree.root
    before = _snapshot(tree.outside, tree.main_git)
    try:
        reason = write_denial("Write", {"file_path": path}, worktree=tree.root, cwd=cwd)
    except Exception:  # the hook turns an exception into a denial
        return
    if reason is not None:
        return
    landed = _write_as_a_tool_would(path, cwd)
    assert _snapshot(tree.outside, tree.main_git) == before, path
    if landed is not None:
        relative = Path(landed).relative_to(tree.root)  # raises when outside
        assert ".git" not in {part.lower() for part in relative.parts}, path
