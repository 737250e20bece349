"""Work order files on disk: import (all or nothing) and export, on top of the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.errors import OrchestratorError, WorkOrderFileError
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_file import parse_wo_file, render_wo_file, wo_filename
from orchestrator.domain.wo_graph import validate_batch
from orchestrator.store.sqlite_store import SQLiteStore

WO_FILE_SUFFIX = ".md"


@dataclass(frozen=True)
class ImportResult:
    files: int
    created: int
    updated: int


def collect_files(paths: list[Path]) -> list[Path]:
    """The WO files named by ``paths``: files as given, directories' ``*.md`` files sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix == WO_FILE_SUFFIX))
        elif path.is_file():
            files.append(path)
        else:
            raise WorkOrderFileError(f"{path}: no such file or directory")
    if not files:
        raise WorkOrderFileError(
            "no work order files (*.md) found in " + ", ".join(map(str, paths))
        )
    return files


def import_files(store: SQLiteStore, project: str, paths: list[Path]) -> ImportResult:
    """Parse and validate every file, then write all of them in one transaction, or none."""
    store.get_project(project)
    files = collect_files(paths)
    parsed: list[tuple[str, WorkOrder]] = []
    problems: list[str] = []
    for path in files:
        try:
            parsed.append((str(path), parse_wo_file(str(path), path.read_bytes())))
        except OrchestratorError as exc:
            problems.append(f"  {path}: {exc}")
        except OSError as exc:
            problems.append(f"  {path}: cannot read: {exc.strerror}")
    if problems:
        raise WorkOrderFileError(
            f"{len(problems)} of {len(files)} work order files are bad, nothing imported:\n"
            + "\n".join(problems)
        )
    batch_ids = {wo.id for _, wo in parsed}
    existing = store.wo_ids()
    with store.reading() as session:
        existing_deps = {
            k: tuple(v) for k, v in store.dependencies(session).items() if k not in batch_ids
        }
    validate_batch(existing, existing_deps, parsed)
    created, updated = store.upsert_work_orders(project, [wo for _, wo in parsed])
    return ImportResult(files=len(files), created=created, updated=updated)


def export_files(store: SQLiteStore, directory: Path, project: str | None = None) -> list[Path]:
    """Write one markdown file per WO into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for wo in store.export_work_orders(project):
        path = directory / wo_filename(wo)
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(render_wo_file(wo), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
