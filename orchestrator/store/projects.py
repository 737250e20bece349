"""Queries on projects."""

from __future__ import annotations

from sqlmodel import select

from orchestrator.domain.errors import NotFoundError, ValidationError
from orchestrator.store.base import StoreBase
from orchestrator.store.tables import ProjectRow


class ProjectQueries(StoreBase):
    def add_project(
        self, project_id: str, path: str, base_branch: str, check_command: str
    ) -> ProjectRow:
        with self.writing() as session:
            if session.get(ProjectRow, project_id) is not None:
                raise ValidationError(f"project {project_id!r} already exists")
            for other in session.exec(select(ProjectRow)):
                if other.path == path:
                    raise ValidationError(f"{path} is already project {other.id!r}")
            row = ProjectRow(
                id=project_id, path=path, base_branch=base_branch, check_command=check_command
            )
            session.add(row)
            self.journal(session, "project_added", "project", project_id, path=path)
        return row

    def get_project(self, project_id: str) -> ProjectRow:
        with self.reading() as session:
            row = session.get(ProjectRow, project_id)
        if row is None:
            raise NotFoundError(f"unknown project {project_id!r}")
        return row

    def list_projects(self) -> list[ProjectRow]:
        with self.reading() as session:
            return list(session.exec(select(ProjectRow).order_by(ProjectRow.id)))

    def only_project(self) -> ProjectRow:
        """The single project of this home (for commands where --project may be left out)."""
        projects = self.list_projects()
        if len(projects) != 1:
            if not projects:
                raise NotFoundError("no project yet: add one with `orch project add PATH`")
            names = ", ".join(p.id for p in projects)
            raise ValidationError(f"several projects ({names}): name one with --project")
        return projects[0]
