"""Work order files: markdown with YAML frontmatter, the format of seeds/003.

A file is ``---``, a YAML mapping, ``---``, then free markdown (the WO's ``body``). Known
fields map onto :class:`WorkOrder` with type checks; every other field is kept verbatim in
``WorkOrder.extra`` so that an export writes back what an import read.

WO files come from users and agents, so their text is data: only ``yaml.safe_load`` reads
it, sizes are bounded before and after YAML expands it, and every rejection is a
:class:`ValidationError` naming the reason (the caller names the file). No I/O here: the
caller reads the bytes.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import yaml

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.ids import validate_wo_id
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import DEFAULT_WO_PRIORITY, WorkOrder
from orchestrator.domain.wo_rules import (
    MAX_WO_FILE_BYTES,
    MAX_WO_PRIORITY,
    MIN_WO_PRIORITY,
    TAG_RE,
    work_order_problems,
)

__all__ = [
    "KNOWN_FIELDS",
    "MAX_ESTIMATE_HOURS",
    "MAX_WO_FIELD_BYTES",
    "MAX_WO_FILE_BYTES",
    "TAG_RE",
    "parse_wo_file",
    "read_frontmatter",
    "render_wo_file",
    "wo_filename",
]

#: Limit for one frontmatter field, measured as JSON after YAML aliases are expanded: a
#: guard against expansion before the WO rules (``wo_rules``, 10,000 characters) apply.
MAX_WO_FIELD_BYTES = 64 * 1024
#: Values visited while checking the frontmatter: stops alias "billion laughs" expansion.
MAX_FRONTMATTER_NODES = 50_000
#: Nesting depth allowed in frontmatter values (also stops self-referencing aliases).
MAX_FRONTMATTER_DEPTH = 32
#: A sanity bound, which also keeps huge YAML integers away from float().
MAX_ESTIMATE_HOURS = 10_000
FRONTMATTER_DELIMITER = "---"

#: Known fields, in the order of seeds/003; render writes them in this order, then extras.
KNOWN_FIELDS: tuple[str, ...] = (
    "id", "title", "goal", "context", "acceptance_criteria", "non_goals", "priority",
    "tags", "estimate_hours", "status", "created_at", "updated_at", "depends_on",
)  # fmt: skip

#: A file named like an id (``WO-2026-001_x.md``) must carry that id: catches copied files.
_FILENAME_ID_RE = re.compile(r"^(WO-[0-9]{4}-[0-9]{3,})(?![0-9])")
_SLUG_MAX_LEN = 60


# ---------------------------------------------------------------------------- parsing


def parse_wo_file(source: str, raw: bytes) -> WorkOrder:
    """The work order in ``raw`` (the bytes of the file ``source``), or ValidationError.

    ``source`` is only compared with the id (see ``_FILENAME_ID_RE``); messages do not
    repeat it, the caller prefixes it.
    """
    text = _decode(raw)
    yaml_text, body = _split_frontmatter(text)
    try:
        wo = _parse_fields(_load_mapping(yaml_text), body)
    except ValidationError as exc:
        repaired = _quote_colon_scalars(yaml_text)
        if repaired is None:
            raise
        try:
            data = _load_mapping(repaired)
        except ValidationError:
            raise exc from None
        # The repaired reading is what the author meant, so its field errors are the
        # useful ones.
        wo = _parse_fields(data, body)
    named = _FILENAME_ID_RE.match(_basename(source))
    if named is not None and named.group(1) != wo.id:
        raise ValidationError(f"file name says {named.group(1)} but its id is {wo.id}")
    return wo


def read_frontmatter(raw: bytes) -> tuple[dict[str, Any], str]:
    """(fields, body) of any markdown file with YAML frontmatter, read by the WO rules:
    size limits, UTF-8, the safe loader, plain data only (experiment files use it too)."""
    yaml_text, body = _split_frontmatter(_decode(raw))
    return _load_mapping(yaml_text), body


def _parse_fields(data: dict[str, Any], body: str) -> WorkOrder:
    wo, errors = _build(data, body)
    if wo is None:
        raise ValidationError("; ".join(errors))
    return wo


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_WO_FILE_BYTES:
        raise ValidationError(f"file is too large ({len(raw)} bytes; limit {MAX_WO_FILE_BYTES})")
    if b"\x00" in raw:
        raise ValidationError("file is binary (contains NUL bytes), not markdown text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"file is not valid UTF-8 text (byte {exc.start})") from None
    # Editors on Windows write a BOM; it is not part of the first line's content.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValidationError("file is empty")
    return text


def _split_frontmatter(text: str) -> tuple[str, str]:
    """(YAML text, body). Splits on '\\n' only, so the body keeps its exact line endings."""
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    if first.rstrip() != FRONTMATTER_DELIMITER:
        raise ValidationError(
            "no frontmatter: a work order file starts with a '---' line, "
            "then YAML fields, then a closing '---' line"
        )
    start = pos = end + 1
    while end >= 0:
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos:end]
        if line.rstrip() == FRONTMATTER_DELIMITER:
            return text[start:pos], "" if end < 0 else text[end + 1 :]
        pos = end + 1
    raise ValidationError("frontmatter is not closed: no second '---' line")


#: libyaml's safe loader when PyYAML was built with it (about 10x faster), else the pure one;
#: both construct only plain data.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_mapping(yaml_text: str) -> dict[str, Any]:
    try:
        data = yaml.load(yaml_text, Loader=_SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in (exc.problem or ""):  # libyaml's own limit, worded as ours
            raise ValidationError("bad YAML in frontmatter: nested too deeply") from None
        raise ValidationError(f"bad YAML in frontmatter: {_yaml_reason(exc)}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date 2026-13-45, say
        raise ValidationError(f"bad YAML in frontmatter: {_one_line(str(exc))}") from None
    except RecursionError:
        raise ValidationError("bad YAML in frontmatter: nested too deeply") from None
    if data is None:
        raise ValidationError("frontmatter is empty: it needs at least 'id' and 'title'")
    if not isinstance(data, dict):
        raise ValidationError(
            f"frontmatter is not a mapping of fields (it is a YAML {_kind(data)})"
        )
    plain = _plain(data, "frontmatter", [MAX_FRONTMATTER_NODES], 0)
    assert isinstance(plain, dict)
    for key, value in plain.items():
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        if size > MAX_WO_FIELD_BYTES:
            raise ValidationError(
                f"field {key!r} is too large ({size} bytes; limit {MAX_WO_FIELD_BYTES})"
            )
    return plain


def _yaml_reason(exc: yaml.MarkedYAMLError) -> str:
    def at(mark: yaml.Mark | None) -> str:
        # +2: lines count from 1, and the opening '---' is line 1 of the file.
        return "" if mark is None else f" (line {mark.line + 2}, column {mark.column + 1})"

    parts = [
        f"{text}{at(mark)}"
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark))
        if text
    ]
    return _one_line(", ".join(parts)) or "not valid YAML"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plain(value: Any, where: str, budget: list[int], depth: int) -> Any:
    """``value`` as JSON-compatible data: dates become ISO strings, anything else odd fails.

    ``budget`` counts visited values across the whole frontmatter; YAML aliases share
    objects, so without it a small file can expand into an enormous structure.
    """
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_FRONTMATTER_DEPTH:
        raise ValidationError(
            "frontmatter is too large or too deeply nested once YAML aliases are expanded"
        )
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value} is not a finite number")
        return value
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v, where, budget, depth + 1) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"{where}: key {key!r} is a {_kind(key)}; field names must be text (quote it)"
                )
            out[key] = _plain(item, key if depth == 0 else where, budget, depth + 1)
        return out
    raise ValidationError(f"{where}: YAML {_kind(value)} values are not supported")


_KINDS = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
          dict: "mapping", bytes: "binary", set: "set", tuple: "pair list"}  # fmt: skip


def _kind(value: object) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _basename(source: str) -> str:
    return re.split(r"[\\/]", source)[-1]


# ------------------------------------------------------------------------ field checks

#: Known fields that hold lists of free text (a single string counts as one item).
_TEXT_LIST_FIELDS = ("context", "acceptance_criteria", "non_goals")


def _build(data: dict[str, Any], body: str) -> tuple[WorkOrder | None, list[str]]:
    """The WO and every field problem found (all of them, so one pass fixes a file)."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    checks: tuple[tuple[str, Callable[[Any, str], Any], Any], ...] = (
        ("id", lambda value, _: validate_wo_id(value), _REQUIRED),
        ("title", _title, _REQUIRED),
        ("goal", _text, ""),
        *((name, _text_list, ()) for name in _TEXT_LIST_FIELDS),
        ("priority", _priority, DEFAULT_WO_PRIORITY),
        ("tags", _tags, ()),
        ("depends_on", _depends_on, ()),
        ("status", _status, WOStatus.BACKLOG),
        ("estimate_hours", _hours, None),
        ("created_at", _date, None),
        ("updated_at", _date, None),
    )
    for name, check, default in checks:
        raw = data.get(name)
        if raw is None:  # absent and 'field:' with no value mean the same
            if default is _REQUIRED:
                errors.append(f"missing required field {name!r}")
            else:
                values[name] = default
            continue
        try:
            values[name] = check(raw, name)
        except ValidationError as exc:
            errors.append(str(exc))
    wo_id = values.get("id")
    if wo_id is not None and wo_id in values.get("depends_on", ()):
        errors.append(f"{wo_id} depends on itself")
    if errors:
        return None, errors
    extra = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
    wo = WorkOrder(**values, body=body, extra=extra)
    # The rules every door shares (lengths, control characters), after the types.
    errors = work_order_problems(wo)
    return (None if errors else wo), errors


_REQUIRED = object()

#: A top-level ``key: value`` line, or a list item line, with a plain (unquoted) value.
_TOP_LINE_RE = re.compile(r"^([A-Za-z_][\w-]*):[ \t]+(\S.*?)[ \t]*(\r?)$")
_ITEM_LINE_RE = re.compile(r"^([ \t]*-[ \t]+)(\S.*?)[ \t]*(\r?)$")
_KEY_LINE_RE = re.compile(r"^([A-Za-z_][\w-]*):")
_YAML_INDICATORS = set("'\"[]{}|>&*!%@`#,?:-")


def _quote_colon_scalars(yaml_text: str) -> str | None:
    """``yaml_text`` with unquoted text values containing ': ' quoted, or None if none.

    Hand-written files say ``title: Auth: login`` or ``- Kill jobs: SIGTERM first``,
    which YAML reads as a syntax error or as a one-key mapping. The parser retries with
    this repair only after the strict reading failed, and only top-level values and items
    of the free-text lists are touched, so no valid file changes meaning.
    """
    lines = yaml_text.split("\n")
    changed = False
    field = None
    for n, line in enumerate(lines):
        key = _KEY_LINE_RE.match(line)
        if key is not None:
            field = key.group(1)
            match = _TOP_LINE_RE.match(line)
            prefix = f"{field}: "
        elif field in _TEXT_LIST_FIELDS:
            match = _ITEM_LINE_RE.match(line)
            prefix = match.group(1) if match else ""
        else:
            continue
        if match is None:
            continue
        value, cr = match.group(2), match.group(3)
        if value[0] in _YAML_INDICATORS or " #" in value:
            continue
        if ": " in value or value.endswith(":"):
            quoted = value.replace("'", "''")
            lines[n] = f"{prefix}'{quoted}'{cr}"
            changed = True
    return "\n".join(lines) if changed else None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text, got a {_kind(value)} ({value!r}); quote it")
    return value


def _title(value: Any, name: str) -> str:
    title = _text(value, name)
    if not title.strip():  # checked here too: a blank title is reported with the types
        raise ValidationError("title is blank")
    return title


def _list(value: Any, name: str, single_ok: bool) -> list[Any]:
    if single_ok and isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ValidationError(f"{name} must be a list, got a {_kind(value)} ({value!r})")
    return value


def _text_list(value: Any, name: str) -> tuple[str, ...]:
    items = _list(value, name, single_ok=True)
    for n, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise ValidationError(
                f"{name} item {n} must be text, got a {_kind(item)} ({item!r}); quote it"
            )
    return tuple(items)


def _tags(value: Any, name: str) -> tuple[str, ...]:
    tags: list[str] = []
    for item in _list(value, name, single_ok=False):
        if not isinstance(item, str) or not TAG_RE.fullmatch(item):
            raise ValidationError(
                f"invalid tag {item!r}: use 1-64 characters A-Z, a-z, 0-9, '.', '_', '-'"
            )
        if item not in tags:  # a repeated tag says nothing new; keep the first
            tags.append(item)
    return tuple(tags)


def _depends_on(value: Any, name: str) -> tuple[str, ...]:
    deps: list[str] = []
    for item in _list(value, name, single_ok=False):
        try:
            validate_wo_id(item)
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc}") from None
        if item not in deps:
            deps.append(item)
    return tuple(deps)


def _priority(value: Any, name: str) -> int:
    # bool is an int in Python, but 'priority: yes' is a mistake, not priority 1.
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or not MIN_WO_PRIORITY <= value <= MAX_WO_PRIORITY:
        raise ValidationError(
            f"priority must be an integer {MIN_WO_PRIORITY}-{MAX_WO_PRIORITY} "
            f"(1 = most important), got {value!r}"
        )
    return int(value)


def _status(value: Any, name: str) -> WOStatus:
    try:
        return WOStatus(value)
    except ValueError:
        names = ", ".join(s.value for s in WOStatus)
        raise ValidationError(f"invalid status {value!r}: one of {names}") from None


def _hours(value: Any, name: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 <= value <= MAX_ESTIMATE_HOURS:
        raise ValidationError(f"{name} must be a number 0-{MAX_ESTIMATE_HOURS}, got {value!r}")
    return float(value)


def _date(value: Any, name: str) -> date:
    # _plain already turned YAML dates into ISO strings; quoted ISO strings land here too.
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise ValidationError(f"{name} must be a date YYYY-MM-DD, got {value!r}")


# -------------------------------------------------------------------------- rendering


class _Dumper(yaml.SafeDumper):
    """Safe dumper that indents list items under their key, as the seeds do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class _IdList(list[str]):
    """WO ids, written inline (``depends_on: [WO-2026-001]``) as in the sample files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text reads best as a literal block; the emitter falls back to a quoted
    # style by itself when a block cannot hold the string exactly.
    style = "|" if "\n" in value else None
    if any(ch in value for ch in "\x85\u2028\u2029"):
        # PyYAML writes these raw in plain, single-quoted and block styles, then reads
        # them back as line breaks; only double quotes escape them.
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_ids(dumper: yaml.SafeDumper, value: _IdList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_IdList, _represent_ids)


def render_wo_file(wo: WorkOrder) -> str:
    """The file text of ``wo``; ``parse_wo_file(name, render_wo_file(wo).encode())`` is ``wo``.

    Holds for every WO that parsing can produce (tags and dependencies without repeats,
    ``extra`` as JSON-compatible data).
    """
    fields: dict[str, Any] = {
        "id": wo.id,
        "title": wo.title,
        "goal": wo.goal,
        "context": list(wo.context),
        "acceptance_criteria": list(wo.acceptance_criteria),
        "non_goals": list(wo.non_goals),
        "priority": wo.priority,
        "tags": list(wo.tags),
        "estimate_hours": _hours_out(wo.estimate_hours),
        "status": WOStatus(wo.status).value,
        "created_at": _date_out(wo.created_at),
        "updated_at": _date_out(wo.updated_at),
        "depends_on": _IdList(wo.depends_on),
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    for key, value in wo.extra.items():
        if key in KNOWN_FIELDS:
            raise ValidationError(f"extra field {key!r} of {wo.id} shadows a known field")
        fields[key] = value
    text = yaml.dump(
        fields,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=math.inf,  # folded lines round-trip too, but one line per value diffs better
    )
    return f"{FRONTMATTER_DELIMITER}\n{text}{FRONTMATTER_DELIMITER}\n{wo.body}"


def _hours_out(hours: float | None) -> float | int | None:
    if hours is None:
        return None
    # 6.0 is written as 6, like the seeds; it reads back as 6.0 (equal either way).
    return int(hours) if float(hours).is_integer() else hours


def _date_out(value: date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def wo_filename(wo: WorkOrder) -> str:
    """``WO-2026-001_runner-sandbox-process-isolation.md``: id, then a slug of the title.

    Safe as a single path component: the id is checked and the slug is [a-z0-9-] only.
    """
    validate_wo_id(wo.id)
    # NFKD splits accents off letters, so "Café" gives "cafe" rather than "caf".
    ascii_title = unicodedata.normalize("NFKD", wo.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    slug = slug[:_SLUG_MAX_LEN].rstrip("-")
    return f"{wo.id}_{slug}.md" if slug else f"{wo.id}.md"
