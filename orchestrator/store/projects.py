"""Queries on projects.

A project with a shared remote is worked on several hosts, each in its own checkout: the
host that added it in ``path``, every other host in ``<home>/clones/<project>`` (cloned from
the remote when missing). Once a store knows its host (:meth:`ProjectQueries.place_here`),
the projects it returns carry this host's checkout as ``path``, so no caller needs to know.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.domain.project import Project
from orchestrator.store.base import StoreBase
from orchestrator.store.domain_rows import project_of
from orchestrator.store.tables import ProjectRow


class ProjectQueries(StoreBase):
    def place_here(self, host_id: str, clones_dir: Path) -> None:
        """Tell the store which host it serves, so projects come with this host's checkout."""
        self.here = (host_id, clones_dir)

    def add_project(
        self,
        project_id: str,
        path: str,
        base_branch: str,
        check_command: str,
        *,
        remote: str = "",
        host_id: str | None = None,
    ) -> Project:
        with self.writing() as session:
            if session.get(ProjectRow, project_id) is not None:
                raise ValidationError(f"project {project_id!r} already exists")
            for other in session.exec(select(ProjectRow)):
                if other.path == path:
                    raise ValidationError(f"{path} is already project {other.id!r}")
            row = ProjectRow(
                id=project_id,
                path=path,
                base_branch=base_branch,
                check_command=check_command,
                remote=remote,
                host_id=host_id,
            )
            session.add(row)
            self.journal(session, "project_added", "project", project_id, path=path, remote=remote)
            return project_of(row)

    def get_project(self, project_id: str) -> Project:
        with self.reading() as session:
            row = session.get(ProjectRow, project_id)
        if row is None:
            raise NotFoundError(f"unknown project {project_id!r}")
        return self._here(row)

    def list_projects(self) -> list[Project]:
        with self.reading() as session:
            rows = list(session.exec(select(ProjectRow).order_by(ProjectRow.id)))
        return [self._here(r) for r in rows]

    def _here(self, row: ProjectRow) -> Project:
        """``row`` as a Project whose path is this host's checkout."""
        if self.here is None or not row.remote or row.host_id in (None, self.here[0]):
            return project_of(row)
        return project_of(row, str(self.here[1] / row.id))

    def only_project(self) -> Project:
        """The single project of this home (for commands where --project may be left out)."""
        projects = self.list_projects()
        if len(projects) != 1:
            if not projects:
                raise NotFoundError("no project yet: add one with `orch project add PATH`")
            names = ", ".join(p.id for p in projects)
            raise ValidationError(f"several projects ({names}): name one with --project")
        return projects[0]
