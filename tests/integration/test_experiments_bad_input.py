"""Bad input to `orch experiment`: exit 2, one line on stderr, nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import OrchRunner, db_dump

pytestmark = pytest.mark.integration

GOOD = ["--hypothesis", "one way", "--hypothesis", "another way", "--eval", "python3 e.py"]


@pytest.fixture
def taken(home: Path, orch: OrchRunner, make_repo: Callable[..., Path]) -> str:
    """A project with one WO that an experiment already holds, and one that is free."""
    orch.ok("project", "add", make_repo("demo"))
    orch.ok("wo", "add", "--project", "demo", "--title", "held")
    orch.ok("wo", "add", "--project", "demo", "--title", "free")
    held, _free = sorted(w["id"] for w in orch.json("wo", "list"))
    orch.ok("experiment", "start", "--project", "demo", "--name", "first", *GOOD, "--wo", held)
    return held


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hypothesis", "only one", "--eval", "x", "--goal", "g"], "at least 2 hypotheses"),
        ([*GOOD, "--wo", "WO-2026-999"], "unknown work order 'WO-2026-999'"),
        ([*GOOD, "--wo", "HELD"], "is already in experiment first"),
        (["--hypothesis", "a", "--hypothesis", "b", "--eval", " ", "--goal", "g"], "is empty"),
        ([*GOOD, "--goal", "g", "--direction", "sideways"], "invalid --direction 'sideways'"),
        ([*GOOD, "--goal", "g", "--decide", "later"], "invalid --decide"),
        ([*GOOD], "state the problem"),
        ([*GOOD, "--goal", "g", "--eval-runs", "0"], "--eval-runs"),
        ([*GOOD, "--goal", "g", "--wo", "not-an-id"], "invalid work order id"),
    ],
    ids=[
        "one-hypothesis",
        "unknown-wo",
        "wo-in-another-experiment",
        "empty-eval",
        "bad-direction",
        "bad-decide",
        "no-problem",
        "zero-runs",
        "bad-wo-id",
    ],
)
def test_bad_start_exits_2_and_changes_nothing(
    orch: OrchRunner, taken: str, args: list[str], message: str
) -> None:
    args = [taken if a == "HELD" else a for a in args]
    before = db_dump(orch.home)
    result = orch.fails("experiment", "start", "--project", "demo", "--name", "second", *args)
    assert message in result.err
    assert db_dump(orch.home) == before


def test_bad_names_and_ids_exit_2(orch: OrchRunner, taken: str, tmp_path: Path) -> None:
    before = db_dump(orch.home)
    cases = [
        (
            ["experiment", "start", "--project", "demo", "--name", "../x", *GOOD, "--goal", "g"],
            "invalid experiment name",
        ),
        (
            ["experiment", "start", "--project", "demo", "--name", "first", *GOOD, "--goal", "g"],
            "already has an experiment named 'first'",
        ),
        (
            ["experiment", "start", "--project", "nope", "--name", "n", *GOOD, "--goal", "g"],
            "unknown project 'nope'",
        ),
        (["experiment", "show", "nope"], "unknown experiment 'nope'"),
        (["experiment", "decide", "first"], "first is running"),
        (["experiment", "start", str(tmp_path / "missing.md")], "cannot read"),
    ]
    for args, message in cases:
        assert message in orch.fails(*args).err, args
    bad_file = tmp_path / "exp.md"
    bad_file.write_text("---\nname: x\nhypotheses: [a]\neval: e\ngoal: g\n---\n")
    assert "at least 2 hypotheses" in orch.fails("experiment", "start", str(bad_file)).err
    assert db_dump(orch.home) == before


def test_a_file_starts_an_experiment_like_the_flags(
    orch: OrchRunner, taken: str, tmp_path: Path
) -> None:
    spec = tmp_path / "exp.md"
    spec.write_text(
        "---\nproject: demo\nname: from-file\nhypotheses:\n  - cosine\n"
        "  - {name: bm25, hypothesis: use BM25}\neval: python3 e.py\nmetric: ndcg\n"
        "direction: min\neval_runs: 2\ndecide: manual\ngoal: Rank things\n---\nNotes.\n"
    )
    orch.ok("experiment", "start", str(spec))
    shown = orch.json("experiment", "show", "from-file")
    assert [v["track"] for v in shown["variants"]] == ["from-file-a", "from-file-bm25"]
    assert (shown["metric"], shown["direction"], shown["decide"]) == ("ndcg", "min", "manual")
    assert shown["status"] == "running"
