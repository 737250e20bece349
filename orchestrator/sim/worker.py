"""The worker: writes a small module and its test into the worktree, runs the check, reports.

Steps, each decided from the history so a resumed session picks up where it stopped:

1. files: ``Write`` ``wo/<id>.py`` and ``tests/test_<id>.py`` (both in one turn, as parallel
   calls). For an experiment's variant the module follows the payload's hypothesis
   (``sim.approaches``), so competing variants write different code. When the payload
   says an earlier attempt failed or the session is a recovery, the files may exist
   already, and the CLI refuses to overwrite a file it has not read in this session, so
   the worker ``Read``s them first; it also reads and retries after that refusal. Any other
   write error (a denial by the worktree guard, say) ends the work as failed.
2. check: ``Bash`` with the payload's ``check_command``; a failing check is reported as failed.
3. report: ``mcp__orch__report_result`` once per prompt, then a closing text.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any

from orchestrator.sim.approaches import approach_code
from orchestrator.sim.conversation import Conversation, Exchange
from orchestrator.sim.reply import Reply, ToolCall, say
from orchestrator.sim.tooluse import Access, access, first_line, mcp, mcp_calls, use

#: Write attempts per file and prompt before the worker gives up.
_WRITE_ATTEMPTS = 3
#: Runs of the check per prompt when a run came back without a result (cut off).
_CHECK_ATTEMPTS = 2
#: Reports per prompt: the first and one retry after a rejection.
_REPORT_ATTEMPTS = 2
#: Bash's own timeout for the check, in milliseconds (the tool's maximum).
_CHECK_TIMEOUT_MS = 600_000

_NOT_READ_RE = re.compile(r"not been read|read it first", re.I)


@dataclass(frozen=True)
class _File:
    rel: str
    path: str
    content: str


@dataclass(frozen=True)
class _Plan:
    wo_id: str
    name: str
    root: str
    files: tuple[_File, ...]
    check: str | None
    read_first: bool


def module_name(wo_id: str) -> str:
    """``WO-2025-001`` → ``wo_2025_001``: a valid, unique Python module name."""
    name = re.sub(r"[^a-z0-9]+", "_", wo_id.lower()).strip("_") or "work_order"
    return name if name[0].isalpha() else f"wo_{name}"


def make_source_text(wo_id: str, title: str, name: str, hypothesis: str | None = None) -> str:
    """The module for a WO; for an experiment's variant it records the hypothesis and, when
    the hypothesis names an approach the simulator knows, implements it."""
    code = approach_code(hypothesis) if hypothesis else None
    return (
        f'"""Work order {wo_id}, carried out by the orchestrator\'s simulated worker."""\n'
        + (code or "")
        + "\n"
        f"TITLE = {title!r}\n" + (f"HYPOTHESIS = {hypothesis!r}\n" if hypothesis else "") + "\n"
        "\n"
        f"def {name}() -> str:\n"
        '    """Name the work order this module was written for."""\n'
        f"    return {wo_id!r}\n"
    )


def make_test_text(wo_id: str, name: str) -> str:
    # Loaded by path: works whatever the project's package layout and pytest import mode.
    return (
        f'"""Checks the module the simulated worker wrote for {wo_id}."""\n'
        "\n"
        "import importlib.util\n"
        "from pathlib import Path\n"
        "\n"
        f'_MODULE = Path(__file__).resolve().parents[1] / "wo" / "{name}.py"\n'
        "\n"
        "\n"
        "def _load():\n"
        f'    spec = importlib.util.spec_from_file_location("sim_{name}", _MODULE)\n'
        "    assert spec is not None and spec.loader is not None\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    return module\n"
        "\n"
        "\n"
        f"def test_{name}_names_its_work_order():\n"
        f"    assert _load().{name}() == {wo_id!r}\n"
    )


def _plan(conv: Conversation, payload: dict[str, Any]) -> _Plan | str:
    wo = payload.get("wo") if isinstance(payload.get("wo"), dict) else None
    if not wo or not wo.get("id"):
        return "The payload names no work order."
    worktree = payload.get("worktree")
    root = worktree if isinstance(worktree, str) and worktree else (conv.cwd or "")
    if not posixpath.isabs(root):
        return "The payload names no absolute worktree path, so I do not know where to work."
    wo_id = str(wo["id"])
    name = module_name(wo_id)
    src_rel, test_rel = f"wo/{name}.py", f"tests/test_{name}.py"
    root = posixpath.normpath(root)
    title = str(wo.get("title", ""))
    experiment = payload.get("experiment")
    hypothesis = None
    if isinstance(experiment, dict) and isinstance(experiment.get("hypothesis"), str):
        hypothesis = experiment["hypothesis"] or None
    source = make_source_text(wo_id, title, name, hypothesis)
    files = (
        _File(src_rel, posixpath.join(root, src_rel), source),
        _File(test_rel, posixpath.join(root, test_rel), make_test_text(wo_id, name)),
    )
    command = payload.get("check_command")
    check = command.strip() if isinstance(command, str) and command.strip() else None
    if check and conv.cwd and posixpath.normpath(conv.cwd) != posixpath.normpath(root):
        check = f"cd {shlex.quote(root)} && {check}"
    read_first = bool(payload.get("previous_failure") or payload.get("recovery"))
    return _Plan(wo_id, name, root, files, check, read_first)


def worker_agent(conv: Conversation, payload: dict[str, Any]) -> Reply:
    plan = _plan(conv, payload)
    if isinstance(plan, str):
        return say(plan)

    pending: list[ToolCall] = []
    for file in plan.files:
        step = _file_step(conv, plan, file)
        if isinstance(step, str):
            return _report(conv, plan, "failed", step)
        if step is not None:
            pending.append(step)
    if pending:
        reply = use(conv, pending)
        if reply is None:
            return _report(conv, plan, "failed", "The Write tool is not available to me.")
        return reply

    written = ", ".join(f.rel for f in plan.files)
    if plan.check is None:
        return _report(conv, plan, "done", f"Added {written}; the project has no check command.")
    runs = [e for e in conv.calls("Bash") if e.input.get("command") == plan.check]
    if not runs and access(conv, "Bash") is Access.ABSENT:
        return _report(conv, plan, "done", f"Added {written}; the check was not run (no Bash).")
    if not runs or (runs[-1].result is None and len(runs) < _CHECK_ATTEMPTS):
        bash = ToolCall(
            "Bash",
            {
                "command": plan.check,
                "description": "Run the project's check command",
                "timeout": _CHECK_TIMEOUT_MS,
            },
        )
        reply = use(conv, [bash])
        return reply if reply is not None else _report(conv, plan, "failed", "Bash is unavailable.")
    if not runs[-1].ok:
        excerpt = first_line(runs[-1].result) or "no result"
        return _report(
            conv, plan, "failed", f"Added {written}, but `{plan.check}` failed: {excerpt}"
        )
    return _report(conv, plan, "done", f"Added {written}; `{plan.check}` passed.")


def _file_step(conv: Conversation, plan: _Plan, file: _File) -> ToolCall | str | None:
    """The next call for one file, None when it is written, or a failure reason."""
    order = {e.id: n for n, e in enumerate(conv.exchanges)}
    writes = [e for e in conv.exchanges if e.name in ("Write", "Edit") and _path(e) == file.path]
    if any(e.ok for e in writes):
        return None
    reads = [e for e in conv.exchanges if e.name == "Read" and _path(e) == file.path]
    can_read = access(conv, "Read") is not Access.ABSENT
    write = ToolCall("Write", {"file_path": file.path, "content": file.content})
    read = ToolCall("Read", {"file_path": file.path})
    current = [e for e in writes if e.segment == conv.segment]
    if not current:
        return read if plan.read_first and not reads and can_read else write
    if len(current) >= _WRITE_ATTEMPTS:
        return f"Writing {file.rel} failed {len(current)} times: {first_line(current[-1].result)}"
    last = current[-1]
    if last.result is None:
        return write
    if _NOT_READ_RE.search(last.result):
        read_since = any(order[r.id] > order[last.id] and r.result is not None for r in reads)
        if read_since or not can_read:
            return write
        return read
    return f"Writing {file.rel} was refused: {first_line(last.result)}"


def _path(exchange: Exchange) -> str:
    value = exchange.input.get("file_path")
    return posixpath.normpath(value) if isinstance(value, str) and value else ""


def _report(conv: Conversation, plan: _Plan, status: str, summary: str) -> Reply:
    made = [e for e in mcp_calls(conv, "report_result") if e.result is not None]
    if made and made[-1].ok:
        reported = made[-1].input.get("status", status)
        return say(
            f"{plan.wo_id} reported as {reported}. {made[-1].input.get('summary', '')}".strip()
        )
    if len(made) >= _REPORT_ATTEMPTS:
        return say(f"{plan.wo_id}: report_result was rejected: {first_line(made[-1].result)}")
    written = [f.rel for f in plan.files if _written(conv, f)]
    report = {"status": status, "summary": summary, "files_changed": written}
    reply = use(conv, [mcp("report_result", report)])
    if reply is None:
        return say(f"{plan.wo_id} is {status}: {summary} (I have no report_result tool.)")
    return reply


def _written(conv: Conversation, file: _File) -> bool:
    return any(
        e.ok for e in conv.exchanges if e.name in ("Write", "Edit") and _path(e) == file.path
    )
