"""Work order files on disk: import (all or nothing) and export, on top of the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.errors import WorkOrderFileError
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.wo_file import render_wo_file, wo_filename
from orchestrator.domain.wo_graph import StoredWO, parse_batch
from orchestrator.store.contract import Store

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


def import_files(store: Store, project: str, paths: list[Path]) -> ImportResult:
    """Parse and validate every file, then write all of them in one transaction, or none.

    A refusal lists every bad file with every reason at once: unreadable, malformed, the
    batch's dependency rules, and clashes with the stored WOs (project, status).
    """
    store.get_project(project)
    files = collect_files(paths)
    raw: list[tuple[str, bytes | None]] = []
    unreadable: dict[str, str] = {}
    for path in files:
        try:
            raw.append((str(path), path.read_bytes()))
        except OSError as exc:
            raw.append((str(path), None))
            unreadable[str(path)] = f"cannot read: {exc.strerror}"
    stored = {
        row["id"]: StoredWO(project=row["project"], status=WOStatus(row["status"]))
        for row in store.list_work_orders()
    }
    existing_deps = store.wo_dependencies()
    parsed = parse_batch(
        set(stored), existing_deps, raw, stored=stored, project=project, unreadable=unreadable
    )
    created, updated = store.upsert_work_orders(project, [wo for _, wo in parsed])
    return ImportResult(files=len(files), created=created, updated=updated)


def export_files(store: Store, directory: Path, project: str | None = None) -> list[Path]:
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
