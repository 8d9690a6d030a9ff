"""``workhorse projects create|list|rename|archive``: on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer

from workhorse.cli.common import (
    BudgetOption,
    ConcurrentOption,
    DataDirOption,
    NoLimitsOption,
    RpmOption,
    Stores,
    TpmOption,
    limits_from,
    run_stores,
    settings_from,
    when,
)
from workhorse.governance.limits import NO_LIMITS
from workhorse.store.projects import ProjectRecord

app = typer.Typer(
    help="Create, list, update (name, limits) and archive projects.", no_args_is_help=True
)

ProjectArgument = Annotated[str, typer.Argument(help="Project id (proj_…) or name")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The project's name")],
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a project; give it keys with ``workhorse keys create --project``."""
    settings = settings_from(data_dir=data_dir)
    limits = limits_from(NO_LIMITS, rpm, tpm, concurrent, budget)
    record = run_stores(settings, lambda stores: stores.projects.create(name, limits))
    typer.echo(f"Created project {record.id} ({record.name}); limits {record.limits.text()}")


@app.command("list")
def list_projects(
    all_: Annotated[bool, typer.Option("--all", help="Archived projects too")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """List projects, oldest first."""
    settings = settings_from(data_dir=data_dir)
    records = run_stores(settings, lambda stores: stores.projects.all(include_archived=all_))
    typer.echo(f"{'ID':<29} {'NAME':<32} {'CREATED':<17} {'STATUS':<25} LIMITS")
    for r in records:
        status = f"archived {when(r.archived_at)}" if r.archived_at else "active"
        typer.echo(
            f"{r.id:<29} {r.name:<32} {when(r.created_at):<17} {status:<25} {r.limits.text()}"
        )


@app.command("update")
def update(
    project: ProjectArgument,
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    no_limits: NoLimitsOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Rename a project or change its limits (those given; the others stay)."""
    settings = settings_from(data_dir=data_dir)

    async def action(stores: Stores) -> ProjectRecord:
        found = await stores.projects.find(project)
        current = NO_LIMITS if no_limits else found.limits
        limits = limits_from(current, rpm, tpm, concurrent, budget)
        return await stores.projects.update(found.id, name=name, limits=limits)

    record = run_stores(settings, action)
    typer.echo(f"Updated {record.id} ({record.name}); limits {record.limits.text()}")


@app.command("archive")
def archive(project: ProjectArgument, data_dir: DataDirOption = None) -> None:
    """Archive a project: its keys stop working at once; its resources are kept."""
    settings = settings_from(data_dir=data_dir)

    async def action(stores: Stores) -> ProjectRecord:
        return await stores.projects.archive((await stores.projects.find(project)).id)

    record = run_stores(settings, action)
    typer.echo(f"Archived {record.id} ({record.name}); its keys are revoked")
