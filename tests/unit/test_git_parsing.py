"""Pure parts of the git layer: output parsers, names, the sealed environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.errors import ValidationError
from orchestrator.git import DEFAULT_IDENTITY, Identity, checkpoint_ref, track_branch
from orchestrator.git.merges import parse_merge_tree_z
from orchestrator.git.runner import git_env, last_line
from orchestrator.git.snapshots import natural_ref_key
from orchestrator.git.worktrees import Worktree, parse_status_z, parse_worktree_list_z

SHA = "284e2b4962210fe889d858433474b6842dba100b"


def test_parse_worktree_list() -> None:
    out = (
        f"worktree /repo\0HEAD {SHA}\0branch refs/heads/main\0\0"
        f"worktree /ws/a\0HEAD {SHA}\0branch refs/heads/tracks/a\0locked initializing\0\0"
        f"worktree /ws/b\0HEAD {SHA}\0branch refs/heads/tracks/b\0"
        "prunable gitdir file points to non-existent location\0\0"
        f"worktree /ws/c\0HEAD {SHA}\0detached\0locked\0\0"
        f"worktree /ws/d\0HEAD {'0' * 40}\0detached\0\0"
    )
    main, a, b, c, d = parse_worktree_list_z(out)
    assert main == Worktree(Path("/repo"), SHA, "main")
    assert a.branch == "tracks/a" and a.is_initializing and a.is_locked
    assert b.is_prunable and b.prunable == "gitdir file points to non-existent location"
    assert not b.is_locked
    assert c.branch is None and c.locked == "" and c.is_locked and not c.is_initializing
    assert d.head is None  # the null id git writes before the checkout


def test_parse_worktree_list_reason_with_newline_and_spaces() -> None:
    out = f"worktree /ws/with space\0HEAD {SHA}\0branch refs/heads/x\0locked two\nlines\0\0"
    (wt,) = parse_worktree_list_z(out)
    assert wt.path == Path("/ws/with space")
    assert wt.locked == "two\nlines"


def test_parse_status() -> None:
    out = " M src/app.py\0?? new file.txt\0R  renamed.py\0original.py\0D  gone.py\0"
    assert parse_status_z(out) == ["src/app.py", "new file.txt", "renamed.py", "gone.py"]
    assert parse_status_z("") == []


def test_parse_merge_tree() -> None:
    clean = f"{SHA}\0\0"
    assert parse_merge_tree_z(clean) == (SHA, [])
    conflicted = (
        f"{SHA}\0f\0g2\0\0"
        "1\0f\0Auto-merging\0Auto-merging f\n\0"
        "1\0f\0CONFLICT (contents)\0CONFLICT (content): Merge conflict in f\n\0"
    )
    assert parse_merge_tree_z(conflicted) == (SHA, ["f", "g2"])


@given(st.lists(st.text(st.characters(blacklist_characters="\0\n"), min_size=1), max_size=5))
def test_parse_merge_tree_any_names(names: list[str]) -> None:
    unique = list(dict.fromkeys(names))
    out = SHA + "\0" + "".join(n + "\0" for n in unique) + "\0" + "1\0x\0msg\0"
    assert parse_merge_tree_z(out) == (SHA, unique)


def test_track_branch_and_checkpoint_ref() -> None:
    assert track_branch("auth-rework") == "tracks/auth-rework"
    assert checkpoint_ref("auth", 3) == "refs/orchestrator/checkpoints/auth/3"
    for bad in ["", "Auth", "a/b", "-x", "a..b"]:
        with pytest.raises(ValidationError):
            track_branch(bad)
    with pytest.raises(ValidationError):
        checkpoint_ref("auth", -1)


def test_natural_sort_of_checkpoint_refs() -> None:
    refs = [checkpoint_ref("t", n) for n in (10, 2, 1, 100)]
    assert sorted(refs, key=natural_ref_key) == [checkpoint_ref("t", n) for n in (1, 2, 10, 100)]


def test_git_env_is_sealed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/elsewhere/index")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "someone else")
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i key")
    env = git_env()
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env
    assert env["GIT_SSH_COMMAND"] == "ssh -i key"  # not a redirect: kept
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_EDITOR"] == "true"
    assert env["GIT_AUTHOR_NAME"] == DEFAULT_IDENTITY.name
    who = git_env({"GIT_INDEX_FILE": "/tmp/idx"}, Identity("Bot", "bot@x"))
    assert who["GIT_INDEX_FILE"] == "/tmp/idx"
    assert who["GIT_COMMITTER_EMAIL"] == "bot@x"


def test_last_line_prefers_the_error() -> None:
    stderr = (
        "fatal: Unable to create '/r/.git/index.lock': File exists.\n\n"
        "Another git process seems to be running in this repository.\n"
        "remove the file manually to continue.\n"
    )
    assert last_line(stderr) == "fatal: Unable to create '/r/.git/index.lock': File exists."
    assert last_line("one\ntwo\n\n") == "two"
    assert last_line("") == ""
