"""``workhorse requests``: the request inspector's records as a table, from the database.

``--failed`` keeps failures only (status 400 and above, or a client that went away);
``--follow`` keeps printing new requests as every replica records them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from workhorse.cli.common import DataDirOption, parse_duration, settings_from
from workhorse.store.db import Database, migrate, open_database
from workhorse.store.request_log import Entry, Filters, Record, RequestLog

app = typer.Typer()

FOLLOW_POLL_S = 1.0
HEADER = ("TIME", "STATUS", "METHOD", "ROUTE", "MS", "KEY", "MODEL", "IDEMPOTENCY", "ERROR", "ID")
WIDTHS = (12, 6, 6, 34, 8, 14, 22, 16, 48, 0)


def _error(entry: Entry) -> str:
    if entry.error_code or entry.error_message:
        return f"{entry.error_code or entry.error_type}: {entry.error_message or ''}"
    return "client went away" if entry.disconnected else "-"


def _cells(entry: Entry) -> tuple[str, ...]:
    at = datetime.fromtimestamp(entry.at_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:12]
    return (
        at,
        str(entry.status),
        entry.method,
        entry.route,
        f"{entry.duration_ms:.1f}",
        entry.api_key_name or entry.api_key_id or "-",
        entry.model or "-",
        entry.idempotency or "-",
        _error(entry),
        entry.request_id,
    )


def _line(cells: tuple[str, ...]) -> str:
    fitted = [
        cell if not width or len(cell) <= width else cell[: width - 1] + "…"
        for cell, width in zip(cells, WIDTHS, strict=True)
    ]
    return "  ".join(c.ljust(w) for c, w in zip(fitted, WIDTHS, strict=True)).rstrip()


def _print(records: list[Record]) -> None:
    for record in records:
        typer.echo(_line(_cells(record.entry)), color=False)


async def _follow(log: RequestLog, filters: Filters, after: int) -> None:
    while True:
        records = await log.newer(filters, after_seq=after, limit=500)
        _print(records)
        if records:
            after = records[-1].seq
        else:
            await asyncio.sleep(FOLLOW_POLL_S)


@app.command()
def requests(
    failed: Annotated[bool, typer.Option("--failed", help="Failures only")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new requests")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Requests shown")] = 20,
    since: Annotated[str | None, typer.Option(help="How far back: 90m, 24h, 7d")] = None,
    route: Annotated[str | None, typer.Option(help="A route template")] = None,
    status: Annotated[int | None, typer.Option(min=100, max=599)] = None,
    key: Annotated[str | None, typer.Option(help="An API key id")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Recent requests, oldest of the page first, as the request inspector recorded them."""
    settings = settings_from(data_dir=data_dir)
    since_ms = None
    if since is not None:
        since_ms = int((time.time() - parse_duration(since, "--since").total_seconds()) * 1000)
    filters = Filters(
        status=status,
        failed=failed,
        route=route,
        api_key_id=key,
        model=model,
        since_ms=since_ms,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url())

    async def run(db: Database) -> None:
        log = RequestLog(db)
        records = list(reversed(await log.page(filters, limit=limit)))
        typer.echo(_line(HEADER))
        _print(records)
        if follow:
            await _follow(log, filters, records[-1].seq if records else await _last_seq(log))
        elif not records:
            typer.echo("(no requests recorded)")

    async def main() -> None:
        db = open_database(settings.resolved_database_url())
        try:
            await run(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


async def _last_seq(log: RequestLog) -> int:
    newest = await log.page(Filters(), limit=1)
    return newest[0].seq if newest else 0
