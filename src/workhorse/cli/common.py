"""What the command groups share: settings from flags, a client's API key, the local stores,
durations."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from workhorse.config import INITIAL_KEY_FILE, Settings
from workhorse.errors import InvalidRequest, WorkhorseError
from workhorse.governance.limits import Limits, parse_budget
from workhorse.store.api_keys import ApiKeyStore
from workhorse.store.db import migrate, open_database
from workhorse.store.projects import ProjectStore

T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder [env WORKHORSE_DATA_DIR; default ./.workhorse]"),
]

DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def settings_from(**overrides: object) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        typer.echo(f"invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def client_key(api_key: str | None, settings: Settings) -> str:
    """The key a client command sends: the one given, else the data dir's first key."""
    if api_key is not None:
        return api_key
    key_file = settings.data_dir / INITIAL_KEY_FILE
    if not key_file.exists():
        typer.echo("no API key: pass --api-key or set WORKHORSE_API_KEY", err=True)
        raise typer.Exit(2)
    return key_file.read_text().strip()


@dataclass(frozen=True)
class Stores:
    """The stores a management command works on, opened on the configured database."""

    keys: ApiKeyStore
    projects: ProjectStore


def run_stores(settings: Settings, action: Callable[[Stores], Awaitable[T]]) -> T:
    """Run ``action`` on the configured database (migrated first); errors exit 1."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url())

    async def run() -> T:
        db = open_database(settings.resolved_database_url())
        keys = ApiKeyStore(db.sessions)
        try:
            return await action(Stores(keys, ProjectStore(db.sessions, keys)))
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except WorkhorseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def parse_duration(text: str, option: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``30d``; exits 2 naming the option otherwise."""
    match = DURATION.match(text)
    if match is None:
        typer.echo(f"{option}: {text!r} is not a duration like 90s, 15m, 12h or 30d", err=True)
        raise typer.Exit(2)
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


def parse_expiry(text: str) -> datetime:
    """A duration from now (``30d``) or an ISO 8601 time (UTC when no zone is given)."""
    if DURATION.match(text):
        return datetime.now(UTC) + parse_duration(text, "--expires")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        typer.echo(f"--expires: {text!r} is neither a duration (30d) nor an ISO time", err=True)
        raise typer.Exit(2) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def split_list(text: str) -> list[str]:
    """``a,b, c`` as ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


RpmOption = Annotated[int | None, typer.Option("--rpm", min=1, help="Requests per minute")]
TpmOption = Annotated[
    int | None, typer.Option("--tpm", min=1, help="Tokens (prompt and output) per minute")
]
ConcurrentOption = Annotated[
    int | None, typer.Option("--concurrent", min=1, help="Requests running at once")
]
BudgetOption = Annotated[
    str | None,
    typer.Option("--budget", help="Tokens per UTC day or month: 1000000/month, 50000/day,soft"),
]
NoLimitsOption = Annotated[bool, typer.Option("--no-limits", help="Lift every limit")]


def limits_from(
    base: Limits, rpm: int | None, tpm: int | None, concurrent: int | None, budget: str | None
) -> Limits:
    """``base`` with the limits given on the command line put in."""
    changes: dict[str, object] = {
        name: value
        for name, value in (("rpm", rpm), ("tpm", tpm), ("max_concurrent", concurrent))
        if value is not None
    }
    if budget is not None:
        try:
            changes["budget"] = parse_budget(budget, "--budget")
        except InvalidRequest as exc:
            typer.echo(f"--budget: {exc.message}", err=True)
            raise typer.Exit(2) from exc
    return replace(base, **changes)  # type: ignore[arg-type]
