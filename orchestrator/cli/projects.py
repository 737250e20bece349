"""``orch project``: the git repositories the orchestrator works on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli.context import AppContext, emit_json
from orchestrator.cli.params import non_empty_path
from orchestrator.domain.errors import ValidationError
from orchestrator.domain.ids import slugify, validate_slug

if TYPE_CHECKING:
    from orchestrator.git.repo import GitRepo

app = typer.Typer(help="Add and list projects (git repositories).", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(parser=non_empty_path, help="Path of the project's git repository."),
    ],
    name: Annotated[str | None, typer.Option(help="Project name (default: from the path).")] = None,
    base_branch: Annotated[
        str | None, typer.Option(help="Branch tracks start from and merge into (default: HEAD's).")
    ] = None,
    check: Annotated[
        str, typer.Option(help="Command that must pass before a WO is done, e.g. 'pytest -q'.")
    ] = "",
    remote: Annotated[
        str | None,
        typer.Option(
            help="Shared git remote (a bare repository's path or a git URL) through which "
            "several hosts exchange track branches, checkpoints and merges."
        ),
    ] = None,
) -> None:
    """Register a git repository as a project."""
    from orchestrator.git.repo import GitRepo, is_git_repo

    app_ctx: AppContext = ctx.obj
    store = app_ctx.store
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise ValidationError(f"project path {path} does not exist or is not a directory")
    if not is_git_repo(resolved):
        raise ValidationError(f"project path {path} is not a git repository")
    repo = GitRepo(resolved)
    project_id = validate_slug(name if name is not None else slugify(resolved.name), "project name")
    branch = base_branch or repo.current_branch(resolved)
    if not branch:
        raise ValidationError(f"{path}: HEAD is detached; name the base branch with --base-branch")
    repo.validate_ref_name(branch)
    if not repo.branch_exists(branch):
        raise ValidationError(f"{path}: no branch {branch!r} (a base branch needs a commit)")
    remote_url = ""
    if remote is not None:
        remote_url = _shared_remote(repo, remote, branch)
    host_id = store.here[0] if store.here is not None else None
    store.add_project(project_id, str(resolved), branch, check, remote=remote_url, host_id=host_id)
    shared = f", remote {remote_url}" if remote_url else ""
    app_ctx.console.print(
        f"Added project {project_id} ({resolved}, base branch {branch}{shared})", markup=False
    )


def _shared_remote(repo: GitRepo, remote: str, branch: str) -> str:
    """The validated remote, holding the base branch (pushed there if it has none yet)."""
    from orchestrator.domain.errors import GitError
    from orchestrator.git.remote import fetch_branch, push_refs, validate_remote_url

    url = validate_remote_url(remote, Path.cwd())
    try:
        if fetch_branch(repo, url, branch) is None:
            push_refs(repo, url, [f"refs/heads/{branch}"])
    except GitError as exc:
        raise ValidationError(f"remote {remote}: {exc}") from None
    return url


@app.command("list")
def list_projects(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List projects."""
    app_ctx: AppContext = ctx.obj
    rows = [
        {
            "id": p.id,
            "path": p.path,
            "base_branch": p.base_branch,
            "check": p.check_command,
            "remote": p.remote or None,
        }
        for p in app_ctx.store.list_projects()
    ]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("project", "path", "base branch", "check", "remote"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"], row["path"], row["base_branch"], row["check"] or "-", row["remote"] or "-"
        )
    app_ctx.console.print(table)
