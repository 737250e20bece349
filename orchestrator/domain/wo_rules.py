"""The rules every work order meets, whichever door it comes in by.

``orch wo add``, a file import and the project agent's ``create_work_order`` tool all call
:func:`validate_work_order`, so a title refused in a file is refused on the command line too.
WO text is data shown on terminals and web pages: control characters (escape codes) are
refused at the door, and :func:`printable` makes stored text safe to print anyway.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.ids import validate_wo_id
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import WorkOrder

MAX_TITLE_CHARS = 200
#: Any other field: the text of goal, each list field as a whole, each extra field as JSON.
MAX_FIELD_CHARS = 10_000
#: A whole WO file (the body is bounded by it).
MAX_WO_FILE_BYTES = 1024 * 1024
MIN_WO_PRIORITY, MAX_WO_PRIORITY = 1, 5
#: Tags are filter keys on the command line and in JSON, so no spaces or separators.
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Statuses an imported file may set; the others belong to the daemon (running, failed,
#: blocked), unless the file repeats what is stored (an export read back).
IMPORTABLE_STATUSES = frozenset(
    {WOStatus.BACKLOG, WOStatus.READY, WOStatus.DONE, WOStatus.CANCELLED}
)
#: Line breaks and tabs are text in multi-line fields; every other C0/C1 control is not.
_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")
_ONE_LINE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def validate_work_order(wo: WorkOrder) -> WorkOrder:
    """``wo`` if it meets every rule, else one ValidationError listing every problem."""
    problems = work_order_problems(wo)
    if problems:
        raise ValidationError("; ".join(problems))
    return wo


def work_order_problems(wo: WorkOrder) -> list[str]:
    """Every rule ``wo`` breaks, as short reasons (empty: it is fine)."""
    problems = _title_problems(wo.title)
    texts: list[tuple[str, Iterable[str]]] = [
        ("goal", [wo.goal]),
        ("context", wo.context),
        ("acceptance_criteria", wo.acceptance_criteria),
        ("non_goals", wo.non_goals),
    ]
    for name, items in texts:
        items = list(items)
        size = sum(len(i) for i in items)
        if size > MAX_FIELD_CHARS:
            problems.append(f"{name} is too long ({size} characters; limit {MAX_FIELD_CHARS})")
        if any(_has_control(i) for i in items):
            problems.append(f"{name} contains control characters (escape codes)")
    if _has_control(wo.body):
        problems.append("body contains control characters (escape codes)")
    body_bytes = len(wo.body.encode("utf-8"))
    if body_bytes > MAX_WO_FILE_BYTES:
        problems.append(f"body is too large ({body_bytes} bytes; limit {MAX_WO_FILE_BYTES})")
    if isinstance(wo.priority, bool) or not MIN_WO_PRIORITY <= wo.priority <= MAX_WO_PRIORITY:
        problems.append(
            f"priority must be an integer {MIN_WO_PRIORITY}-{MAX_WO_PRIORITY} "
            f"(1 = most important), got {wo.priority!r}"
        )
    problems += [
        f"invalid tag {tag!r}: use 1-64 characters A-Z, a-z, 0-9, '.', '_', '-'"
        for tag in wo.tags
        if not TAG_RE.fullmatch(tag)
    ]
    for dep in wo.depends_on:
        try:
            validate_wo_id(dep)
        except ValidationError as exc:
            problems.append(f"depends_on: {exc}")
    for key, value in wo.extra.items():
        encoded = json.dumps(value, ensure_ascii=False)
        if len(encoded) > MAX_FIELD_CHARS:
            problems.append(
                f"field {key!r} is too long ({len(encoded)} characters; limit {MAX_FIELD_CHARS})"
            )
        if any(_has_control(text) for text in _strings(value)):
            problems.append(f"field {key!r} contains control characters (escape codes)")
    return problems


def _title_problems(title: str) -> list[str]:
    if not title.strip():
        return ["title is blank"]
    problems = []
    if len(title) > MAX_TITLE_CHARS:
        problems.append(f"title is too long ({len(title)} characters; limit {MAX_TITLE_CHARS})")
    # Titles are list rows and file names: one line keeps both readable.
    if any(unicodedata.category(ch) in _ONE_LINE_CATEGORIES for ch in title):
        problems.append("title must be one line without control characters")
    return problems


def text_problems(name: str, text: str) -> list[str]:
    """The rules of one free-text field (length, control characters) for any user text
    that is shown like WO text: a track's goal, a hypothesis."""
    problems = []
    if len(text) > MAX_FIELD_CHARS:
        problems.append(f"{name} is too long ({len(text)} characters; limit {MAX_FIELD_CHARS})")
    if _has_control(text):
        problems.append(f"{name} contains control characters (escape codes)")
    return problems


def _strings(value: object) -> Iterable[str]:
    """Every string in JSON-like ``value``, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in _TEXT_CONTROLS_ALLOWED for ch in text)


def importable_status_problem(wo: WorkOrder, stored: WOStatus | None) -> str | None:
    """Why an imported file may not set ``wo.status`` (``stored``: the WO's current status)."""
    if wo.status in IMPORTABLE_STATUSES or wo.status == stored:
        return None
    allowed = ", ".join(sorted(s.value for s in IMPORTABLE_STATUSES))
    return f"status {wo.status.value!r} cannot be imported: one of {allowed}"


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), never sent raw.

    Tabs and line breaks stay; what the rules refuse today may be stored from before them.
    """
    if not any(unicodedata.category(ch) == "Cc" for ch in text):
        return text
    return "".join(
        ch
        if unicodedata.category(ch) != "Cc" or ch in "\t\n"
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
