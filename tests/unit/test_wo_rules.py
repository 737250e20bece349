"""The WO rules every door shares: lengths, control characters, and safe printing."""

from __future__ import annotations

import pytest

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_rules import (
    MAX_FIELD_CHARS,
    MAX_TITLE_CHARS,
    importable_status_problem,
    printable,
    validate_work_order,
    work_order_problems,
)


def wo(**fields: object) -> WorkOrder:
    return WorkOrder(**{"id": "WO-2026-001", "title": "A title", **fields})  # type: ignore[arg-type]


def test_a_plain_wo_passes() -> None:
    ok = wo(goal="line one\n\tline two\r\n", context=("a",), body="# body\n\ttabbed\n")
    assert validate_work_order(ok) is ok


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"title": "t" * (MAX_TITLE_CHARS + 1)}, "title is too long (201 characters; limit 200)"),
        ({"title": "evil\x1b[31m"}, "title must be one line without control characters"),
        ({"title": "two\nlines"}, "title must be one line"),
        ({"title": "sep\u2028arated"}, "title must be one line"),
        ({"title": "   "}, "title is blank"),
        ({"goal": "g" * (MAX_FIELD_CHARS + 1)}, "goal is too long (10001 characters"),
        ({"goal": "red \x1b[31m"}, "goal contains control characters"),
        ({"context": ("x" * 6000, "y" * 6000)}, "context is too long (12000 characters"),
        ({"acceptance_criteria": ("beep\x07",)}, "acceptance_criteria contains control"),
        ({"non_goals": ("\x9bcsi",)}, "non_goals contains control"),
        ({"body": "nul\x00"}, "body contains control characters"),
        ({"priority": 0}, "priority must be an integer 1-5"),
        ({"priority": 6}, "priority must be an integer 1-5"),
        ({"tags": ("Bad Tag",)}, "invalid tag 'Bad Tag'"),
        ({"depends_on": ("WO-1",)}, "depends_on: invalid work order id"),
        ({"extra": {"notes": "z" * MAX_FIELD_CHARS}}, "field 'notes' is too long"),
        ({"extra": {"notes": ["ok", {"k": "esc\x1b"}]}}, "field 'notes' contains control"),
    ],
)
def test_each_rule_names_its_problem(fields: dict[str, object], said: str) -> None:
    with pytest.raises(ValidationError, match=None) as info:
        validate_work_order(wo(**fields))
    assert said in str(info.value)
    assert "\n" not in str(info.value)


def test_the_limits_themselves_are_allowed() -> None:
    assert work_order_problems(wo(title="t" * MAX_TITLE_CHARS, goal="g" * MAX_FIELD_CHARS)) == []


def test_every_problem_is_listed_at_once() -> None:
    problems = work_order_problems(wo(title="t" * 300, goal="\x1b", priority=9))
    assert len(problems) == 3


@pytest.mark.parametrize("status", ["backlog", "ready", "done", "cancelled"])
def test_importable_statuses(status: str) -> None:
    assert importable_status_problem(wo(status=WOStatus(status)), None) is None


@pytest.mark.parametrize("status", ["running", "failed", "blocked"])
def test_daemon_statuses_only_when_unchanged(status: str) -> None:
    item = wo(status=WOStatus(status))
    problem = importable_status_problem(item, None)
    assert problem is not None and f"status {status!r} cannot be imported" in problem
    # An export read back repeats the stored status: that is no change, so it is fine.
    assert importable_status_problem(item, WOStatus(status)) is None


def test_printable_escapes_control_characters() -> None:
    assert printable("evil\x1b[31m red\x07") == "evil\\x1b[31m red\\x07"
    assert printable("keeps\ttabs\nand lines") == "keeps\ttabs\nand lines"
    assert printable("\x9b") == "\\x9b"
    assert printable("plain") == "plain"
