"""``workhorse projects create|list|rename|archive``: on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer

from workhorse.cli.common import DataDirOption, Stores, run_stores, settings_from, when
from workhorse.store.projects import ProjectRecord

app = typer.Typer(help="Create, list, rename and archive projects.", no_args_is_help=True)

ProjectArgument = Annotated[str, typer.Argument(help="Project id (proj_…) or name")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The project's name")],
    data_dir: DataDirOption = None,
) -> None:
    """Create a project; give it keys with ``workhorse keys create --project``."""
    settings = settings_from(data_dir=data_dir)
    record = run_stores(settings, lambda stores: stores.projects.create(name))
    typer.echo(f"Created project {record.id} ({record.name})")


@app.command("list")
def list_projects(
    all_: Annotated[bool, typer.Option("--all", help="Archived projects too")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """List projects, oldest first."""
    settings = settings_from(data_dir=data_dir)
    records = run_stores(settings, lambda stores: stores.projects.all(include_archived=all_))
    typer.echo(f"{'ID':<29} {'NAME':<32} {'CREATED':<17} STATUS")
    for r in records:
        status = f"archived {when(r.archived_at)}" if r.archived_at else "active"
        typer.echo(f"{r.id:<29} {r.name:<32} {when(r.created_at):<17} {status}")


@app.command("rename")
def rename(
    project: ProjectArgument,
    name: Annotated[str, typer.Argument(help="The new name")],
    data_dir: DataDirOption = None,
) -> None:
    """Rename a project."""
    settings = settings_from(data_dir=data_dir)

    async def action(stores: Stores) -> ProjectRecord:
        return await stores.projects.rename((await stores.projects.find(project)).id, name)

    record = run_stores(settings, action)
    typer.echo(f"Renamed {record.id} to {record.name}")


@app.command("archive")
def archive(project: ProjectArgument, data_dir: DataDirOption = None) -> None:
    """Archive a project: its keys stop working at once; its resources are kept."""
    settings = settings_from(data_dir=data_dir)

    async def action(stores: Stores) -> ProjectRecord:
        return await stores.projects.archive((await stores.projects.find(project)).id)

    record = run_stores(settings, action)
    typer.echo(f"Archived {record.id} ({record.name}); its keys are revoked")
