"""``workhorse usage``: what each project, key and model spent, as a table."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from workhorse.cli.common import DataDirOption, parse_duration, settings_from, split_list
from workhorse.store.db import migrate, open_database
from workhorse.store.usage import APIS, Row, UsageStore

app = typer.Typer()

BY = {"project": "project_id", "key": "api_key_id", "model": "model", "api": "api"}
COLUMNS = (
    ("requests", "REQUESTS"),
    ("errors", "ERRORS"),
    ("model_requests", "MODEL CALLS"),
    ("input_tokens", "INPUT"),
    ("output_tokens", "OUTPUT"),
    ("trained_tokens", "TRAINED"),
    ("stored_bytes", "STORED B"),
)


@app.command()
def usage(
    since: Annotated[str, typer.Option(help="How far back: 90m, 24h, 7d")] = "7d",
    by: Annotated[
        str, typer.Option(help="Group by any of: project, key, model, api (comma-separated)")
    ] = "project,key,model",
    data_dir: DataDirOption = None,
) -> None:
    """Sum the usage records of the configured database since a time, grouped."""
    import asyncio

    groups = [BY.get(name) for name in split_list(by)]
    if not groups or None in groups:
        typer.echo(f"--by: group by any of {', '.join(BY)}", err=True)
        raise typer.Exit(2)
    names = [g for g in groups if g is not None]
    settings = settings_from(data_dir=data_dir)
    start = int(time.time() - parse_duration(since, "--since").total_seconds()) // 60 * 60
    end = int(time.time()) // 60 * 60 + 60
    migrate(settings.resolved_database_url())

    async def run() -> list[Row]:
        db = open_database(settings.resolved_database_url())
        try:
            return await UsageStore(db).sums(APIS, start, end, end - start, names)
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    widths = [max([len(name), *(len(row.group[name]) for row in rows)]) for name in names]
    head = [n.upper().ljust(w) for n, w in zip(names, widths, strict=True)]
    typer.echo("  ".join(head + [title.rjust(12) for _, title in COLUMNS]))
    for row in rows:
        cells = [row.group[n].ljust(w) or "-" for n, w in zip(names, widths, strict=True)]
        typer.echo("  ".join(cells + [str(row.totals[c]).rjust(12) for c, _ in COLUMNS]))
    if not rows:
        typer.echo("(no usage in this time)")
