"""``workhorse keys create|list|update|rotate|revoke``: on the configured database."""

from __future__ import annotations

from datetime import UTC, datetime
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
    parse_duration,
    parse_expiry,
    run_stores,
    settings_from,
    split_list,
    when,
)
from workhorse.governance.keys import PROJECT_SCOPES, ApiKeyRecord, KeyChanges, Scope, parse_scopes
from workhorse.governance.limits import NO_LIMITS

app = typer.Typer(help="Create, list, update, rotate and revoke API keys.", no_args_is_help=True)

ProjectOption = Annotated[
    str | None,
    typer.Option("--project", help="Project id or name (default: a new project named as the key)"),
]
ScopesOption = Annotated[
    str | None,
    typer.Option(
        "--scopes",
        help="Comma-separated: " + ", ".join(s.value for s in Scope) + " (default: all but admin)",
    ),
]
ModelsOption = Annotated[
    str | None, typer.Option("--models", help="Comma-separated models the key may use")
]
ExpiresOption = Annotated[
    str | None, typer.Option("--expires", help="When it stops working: 30d, 12h, or an ISO time")
]


def _describe(record: ApiKeyRecord) -> str:
    scopes = ",".join(sorted(s.value for s in record.scopes))
    models = ",".join(record.models) if record.models is not None else "all"
    return (
        f"{record.id} ({record.name}) in project {record.project_id}; scopes {scopes}; "
        f"models {models}; expires {when(record.expires_at)}; limits {record.limits.text()}"
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A label for the key, e.g. the client using it")],
    project: ProjectOption = None,
    scopes: ScopesOption = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key (every scope)")] = False,
    models: ModelsOption = None,
    expires: ExpiresOption = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key; the key itself is printed alone on the last line."""
    settings = settings_from(data_dir=data_dir)
    limits = limits_from(NO_LIMITS, rpm, tpm, concurrent, budget)
    chosen = frozenset(Scope) if admin else PROJECT_SCOPES
    if scopes is not None:
        chosen = parse_scopes(split_list(scopes)) | (frozenset({Scope.ADMIN}) if admin else set())
    expires_at = parse_expiry(expires) if expires is not None else None
    allowed = tuple(split_list(models)) if models is not None else None

    async def action(stores: Stores) -> tuple[ApiKeyRecord, str]:
        if project is None:
            project_id = (await stores.projects.create(name)).id
        else:
            project_id = (await stores.projects.find(project)).id
        return await stores.keys.create(
            name, project_id, chosen, models=allowed, expires_at=expires_at, limits=limits
        )

    record, secret = run_stores(settings, action)
    kind = "admin key" if record.is_admin else "API key"
    if record.is_admin and not admin and (scopes is None or "admin" not in scopes):
        kind += " (the install's first key is an admin key)"
    typer.echo(f"Created {kind} {_describe(record)}. It is shown only once:")
    typer.echo(secret)


@app.command("list")
def list_keys(
    project: Annotated[str | None, typer.Option("--project", help="Only this project's")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """List keys (never the keys themselves)."""
    settings = settings_from(data_dir=data_dir)

    async def action(stores: Stores) -> list[ApiKeyRecord]:
        project_id = (await stores.projects.find(project)).id if project else None
        return await stores.keys.all(project_id)

    records = run_stores(settings, action)
    now = datetime.now(UTC)
    typer.echo(
        f"{'ID':<28} {'NAME':<20} {'PROJECT':<29} {'PREFIX':<12} {'CREATED':<17} "
        f"{'SCOPES':<24} STATUS"
    )
    for r in records:
        status: str = r.status(now)
        if status == "revoked":
            status = f"revoked {when(r.revoked_at)}"
        scopes = ",".join(sorted(s.value for s in r.scopes))
        typer.echo(
            f"{r.id:<28} {r.name:<20} {r.project_id:<29} {r.prefix + '…':<12} "
            f"{when(r.created_at):<17} {scopes:<24} {status}"
        )


@app.command("update")
def update(
    key: Annotated[str, typer.Argument(help="Key id (key_…)")],
    name: Annotated[str | None, typer.Option(help="A new label")] = None,
    scopes: ScopesOption = None,
    models: ModelsOption = None,
    all_models: Annotated[
        bool, typer.Option("--all-models", help="Lift the key's model list")
    ] = False,
    expires: ExpiresOption = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Never expire")] = False,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrent: ConcurrentOption = None,
    budget: BudgetOption = None,
    no_limits: NoLimitsOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Change a key's name, scopes, models, expiry or limits (those given; the others
    stay); its secret stays the same."""
    settings = settings_from(data_dir=data_dir)

    async def action(stores: Stores) -> ApiKeyRecord:
        current = NO_LIMITS if no_limits else (await stores.keys.get(key)).limits
        limits = limits_from(current, rpm, tpm, concurrent, budget)
        changes = KeyChanges(
            name=name,
            scopes=parse_scopes(split_list(scopes)) if scopes is not None else None,
            models=tuple(split_list(models)) if models is not None else None,
            all_models=all_models,
            expires_at=parse_expiry(expires) if expires is not None else None,
            clear_expiry=no_expiry,
            limits=limits,
        )
        return await stores.keys.update(key, changes)

    record = run_stores(settings, action)
    typer.echo(f"Updated {_describe(record)}")


@app.command("rotate")
def rotate(
    key: Annotated[str, typer.Argument(help="Key id (key_…)")],
    grace: Annotated[
        str, typer.Option("--grace", help="How long the old secret still works: 0s, 15m, 1d")
    ] = "0s",
    data_dir: DataDirOption = None,
) -> None:
    """A new secret for the same key; the new secret is printed alone on the last line."""
    settings = settings_from(data_dir=data_dir)
    seconds = int(parse_duration(grace, "--grace").total_seconds())
    record, secret = run_stores(settings, lambda stores: stores.keys.rotate(key, seconds))
    until = when(record.previous_valid_until) if record.previous_valid_until else "now"
    typer.echo(f"Rotated {record.id} ({record.name}); the old secret works until {until}.")
    typer.echo("The new secret is shown only once:")
    typer.echo(secret)


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="Key id (key_…) or name")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key by id, or every active key with a name."""
    settings = settings_from(data_dir=data_dir)
    revoked = run_stores(settings, lambda stores: stores.keys.revoke(key))
    for r in revoked:
        typer.echo(f"Revoked {r.id} ({r.name})")
