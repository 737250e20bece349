"""Names that become paths, branches and keys: slugs and work order ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.errors import UserInputError, ValidationError
from orchestrator.domain.ids import (
    SLUG_RE,
    format_wo_id,
    parse_wo_id,
    slugify,
    validate_slug,
    validate_wo_id,
)


@pytest.mark.parametrize("value", ["a", "demo", "my-project", "0day", "a" * 64, "x-1-2"])
def test_valid_slugs(value: str) -> None:
    assert validate_slug(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "../x",
        "..",
        "a/b",
        "Bad Name",
        "Upper",
        "-leading",
        "a" * 65,
        "under_score",
        "dot.name",
        "tab\tname",
        "new\nline",
        "caf\u00e9",
        None,
        3,
    ],
)
def test_invalid_slugs(value: object) -> None:
    with pytest.raises(ValidationError, match="invalid project name"):
        validate_slug(value, "project name")


def test_slug_error_is_bad_input() -> None:
    assert issubclass(ValidationError, UserInputError)


@pytest.mark.parametrize("value", ["WO-2026-001", "WO-1999-999", "WO-2026-1000"])
def test_valid_wo_ids(value: str) -> None:
    assert validate_wo_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "WO-26-001", "WO-2026-01", "wo-2026-001", "WO-2026-001x", "../WO-2026-001", "WO-2026-", 7],
)
def test_invalid_wo_ids(value: object) -> None:
    with pytest.raises(ValidationError, match="invalid work order id"):
        validate_wo_id(value)


def test_format_and_parse_wo_id() -> None:
    assert format_wo_id(2026, 1) == "WO-2026-001"
    assert format_wo_id(2026, 1234) == "WO-2026-1234"
    assert parse_wo_id("WO-2026-042") == (2026, 42)
    with pytest.raises(ValidationError):
        parse_wo_id("WO-2026-4")


@given(st.integers(min_value=0, max_value=9999), st.integers(min_value=0, max_value=10**6))
def test_wo_id_round_trip(year: int, number: int) -> None:
    wo_id = format_wo_id(year, number)
    assert validate_wo_id(wo_id) == wo_id
    assert parse_wo_id(wo_id) == (year, number)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("My Project", "my-project"),
        ("  --Hello, World!--  ", "hello-world"),
        ("../../etc", "etc"),
        ("", "track"),
        ("!!!", "track"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@given(st.text(max_size=200))
def test_slugify_always_gives_a_valid_slug(text: str) -> None:
    slug = slugify(text)
    assert SLUG_RE.fullmatch(slug)
    assert validate_slug(slug) == slug
    assert len(slug) <= 48
