"""Every malformed file of the shared fixture is refused with its reason and its name."""

from __future__ import annotations

import pytest

from orchestrator.domain.errors import UserInputError, ValidationError, WorkOrderFileError
from orchestrator.domain.wo_file import parse_wo_file
from orchestrator.domain.wo_graph import parse_batch
from tests.fixtures.bad_wo_files import BAD_CASES, BadCase, wo_text

SAMPLE_IDS = {f"WO-2026-{n:03d}" for n in range(1, 21)}


def test_fixture_covers_the_required_kinds() -> None:
    names = {case.name for case in BAD_CASES}
    required = {
        "no-frontmatter", "bad-yaml", "missing-id", "missing-title", "bad-id", "traversal-id",
        "priority-not-int", "tags-not-list", "unknown-dependency", "self-dependency", "cycle",
        "duplicate-ids", "binary", "empty", "enormous-field", "frontmatter-not-mapping",
        "invalid-status", "non-utf8",
    }  # fmt: skip
    assert required <= names
    assert len(names) == len(BAD_CASES) >= 16


@pytest.mark.parametrize("existing", [set(), SAMPLE_IDS], ids=["empty-db", "with-samples"])
@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_batch_is_refused_naming_every_bad_file(case: BadCase, existing: set[str]) -> None:
    with pytest.raises(WorkOrderFileError) as info:
        parse_batch(existing, {}, list(case.files.items()))
    message = str(info.value)
    assert info.value.exit_code == 2
    assert case.reason in message
    first, *lines = message.splitlines()
    total = len(case.files)
    assert first.startswith(f"{len(case.named_files)} of {total} work order file")
    assert [line.split(": ")[0].strip() for line in lines] == list(case.named_files)


@pytest.mark.parametrize("case", [c for c in BAD_CASES if len(c.files) == 1], ids=lambda c: c.name)
def test_single_file_cases_fail_alone_or_in_batch(case: BadCase) -> None:
    ((name, raw),) = case.files.items()
    try:
        parse_wo_file(name, raw)
    except ValidationError as exc:
        assert case.reason in str(exc)
        assert name not in str(exc)  # the caller names the file, once
    else:  # only the batch checks (graph, importable statuses) can find these
        assert case.name in {"unknown-dependency", "status-running", "status-failed"}


def test_one_bad_file_spoils_a_good_batch() -> None:
    good = [(f"WO-2099-00{n}.md", wo_text(f"WO-2099-00{n}").encode()) for n in range(1, 4)]
    bad = next(c for c in BAD_CASES if c.name == "bad-yaml")
    files = good[:2] + list(bad.files.items()) + good[2:]
    with pytest.raises(
        WorkOrderFileError, match=r"^1 of 4 work order files is bad:\n  WO-2099-103"
    ):
        parse_batch(set(), {}, files)


def test_all_bad_cases_together_list_every_file_once() -> None:
    files = [item for case in BAD_CASES for item in case.files.items()]
    with pytest.raises(UserInputError) as info:
        parse_batch(set(), {}, files)
    lines = str(info.value).splitlines()[1:]
    named = [name for case in BAD_CASES for name in case.named_files]
    assert [line.split(": ")[0].strip() for line in lines] == named
