"""Property: rendering a work order and parsing it back gives the same work order."""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_file import (
    KNOWN_FIELDS,
    MAX_ESTIMATE_HOURS,
    TAG_RE,
    parse_wo_file,
    render_wo_file,
    wo_filename,
)

# Text a YAML writer finds awkward, mixed into the generated strings.
TRICKY = [
    "---", "...", "--- x", ": ", "key: value", "- item", "#", " # not a comment", "'", '"',
    "\\", "|", ">", "&a", "*a", "!!python/object", "{a: 1}", "[1, 2]", "yes", "no", "on",
    "null", "~", "1.0", "0x1F", "1_000", "2026-01-14", "<<", "=", "\t", "\n", "\r\n", "\r",
    "\u2028", "\ufeff", "é", "日本", "🚀", "  ", "%TAG",
]  # fmt: skip
#: Control characters the WO rules refuse (escape codes): only in the noise of bad files.
REFUSED_CONTROLS = ["\x00", "\x7f", "\u0085", "\x1b[31m", "\x07"]

# Any unicode text except what UTF-8 cannot encode (lone surrogates) and the control
# characters a WO may not hold (tabs and line breaks come from TRICKY).
chars = st.characters(codec="utf-8", exclude_categories=["Cc"])
text = st.lists(st.sampled_from(TRICKY) | st.text(chars, max_size=8), max_size=5).map("".join)
noise_text = st.lists(
    st.sampled_from(TRICKY + REFUSED_CONTROLS) | st.text(st.characters(codec="utf-8"), max_size=8),
    max_size=5,
).map("".join)
# The body is raw file content, with tabs and line breaks but no other control characters.
body = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"]) | st.sampled_from("\t\n\r"),
    max_size=200,
)
title = text.filter(
    lambda t: t.strip() != "" and not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in t)
)
wo_ids = st.builds("WO-{:04d}-{:03d}".format, st.integers(1900, 2200), st.integers(0, 99_999))
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
extra = st.dictionaries(text.filter(lambda k: k not in KNOWN_FIELDS), json_value, max_size=4)


@st.composite
def work_orders(draw: st.DrawFn) -> WorkOrder:
    wo_id = draw(wo_ids)
    deps = draw(st.lists(wo_ids.filter(lambda d: d != wo_id), unique=True, max_size=4))
    hours = st.none() | st.floats(0, MAX_ESTIMATE_HOURS) | st.integers(0, 10_000).map(float)
    return WorkOrder(
        id=wo_id,
        title=draw(title),
        goal=draw(text),
        context=tuple(draw(st.lists(text, max_size=4))),
        acceptance_criteria=tuple(draw(st.lists(text, max_size=4))),
        non_goals=tuple(draw(st.lists(text, max_size=3))),
        priority=draw(st.integers(1, 5)),
        tags=tuple(draw(st.lists(st.from_regex(TAG_RE, fullmatch=True), unique=True, max_size=4))),
        depends_on=tuple(deps),
        status=draw(st.sampled_from(WOStatus)),
        estimate_hours=draw(hours),
        created_at=draw(st.none() | st.dates()),
        updated_at=draw(st.none() | st.dates()),
        body=draw(body),
        extra=draw(extra),
    )


def _check(wo: WorkOrder) -> None:
    rendered = render_wo_file(wo)
    back = parse_wo_file(wo_filename(wo), rendered.encode("utf-8"))
    assert back == wo
    # Export of an import is stable: a second round changes no byte.
    assert render_wo_file(back) == rendered


@settings(max_examples=200, deadline=None)
@given(work_orders())
@example(
    WorkOrder(
        id="WO-2026-001",
        title="Auth: login ---",
        goal="---\n---\n...\n",
        context=("Kill jobs: SIGTERM", "  leading spaces", "trailing  ", "\n\nnewlines\n\n"),
        acceptance_criteria=("- not a list", "# not a comment", "'quoted'", '"double"'),
        body="---\nid: WO-9999-999\n---\n",
        extra={"notes": ["A: b", {"k": "2026-01-01"}], "on": "yes", "<<": {"x": 1}},
    )
)
def test_render_then_parse_is_identity(wo: WorkOrder) -> None:
    _check(wo)


@settings(max_examples=200, deadline=None)
@given(st.lists(text, min_size=1, max_size=6), body)
def test_multiline_goal_and_body(lines: list[str], tail: str) -> None:
    goal = "\n".join(lines)
    _check(WorkOrder(id="WO-2026-001", title="T", goal=goal, context=(goal,), body=tail))


@given(st.dictionaries(text, json_value, max_size=3))
@settings(deadline=None)
def test_nested_extra_survives(value: dict[str, Any]) -> None:
    _check(WorkOrder(id="WO-2026-001", title="T", extra={"nested": value}))


def _parse_or_refuse(raw: bytes) -> None:
    """Whatever the bytes, the parser returns a WorkOrder or raises ValidationError."""
    try:
        wo = parse_wo_file("fuzz.md", raw)
    except ValidationError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parse_wo_file("fuzz.md", render_wo_file(wo).encode("utf-8")) == wo


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    _parse_or_refuse(raw)


@settings(max_examples=150, deadline=None)
@given(work_orders(), st.integers(0, 10_000), noise_text)
def test_corrupted_files_never_crash(wo: WorkOrder, at: int, noise: str) -> None:
    rendered = render_wo_file(wo)
    at %= len(rendered) + 1
    _parse_or_refuse((rendered[:at] + noise + rendered[at:]).encode("utf-8"))
