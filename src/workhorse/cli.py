"""``workhorse serve | worker | ingest | train | keys create|list|revoke``.

Every flag is also a ``WORKHORSE_*`` env var; a flag given on the command line wins.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from workhorse.config import INITIAL_KEY_FILE, Settings
from workhorse.errors import WorkhorseError
from workhorse.obs.logging import configure_logging
from workhorse.store.api_keys import ApiKeyStore
from workhorse.store.db import migrate, open_database

T = TypeVar("T")

app = typer.Typer(help="Workhorse: a self-hosted AI chatbot backend.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder [env WORKHORSE_DATA_DIR; default ./.workhorse]"),
]


def _settings(**overrides: object) -> Settings:
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        typer.echo(f"invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _run_store(settings: Settings, action: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url())

    async def run() -> T:
        db = open_database(settings.resolved_database_url())
        try:
            return await action(ApiKeyStore(db.sessions))
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except WorkhorseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [env WORKHORSE_HOST; 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [env WORKHORSE_PORT; 8000]")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run the server on the embedded defaults (SQLite, bundled models)."""
    import uvicorn

    from workhorse.app import create_app

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # torch's OpenMP threads otherwise spin for a while after each embedding call and
    # starve the event loop and database threads of the CPU they need to answer.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = _settings(host=host, port=port, data_dir=data_dir)
    configure_logging(settings.log_level)
    from workhorse.http.protocol import EnvelopeHttpToolsProtocol

    uvicorn.run(
        create_app(settings),
        http=EnvelopeHttpToolsProtocol,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    workers: Annotated[
        int | None,
        typer.Option(help="Job threads (env WORKHORSE_INGEST_WORKERS)", min=1),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run ingestion jobs from the queue (WORKHORSE_QUEUE_URL), without serving HTTP."""
    import asyncio

    from workhorse.jobs.worker import run_worker

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = _settings(data_dir=data_dir, ingest_workers=workers)
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings))


def _client_key(api_key: str | None, settings: Settings) -> str:
    """The key a client command sends: the one given, else the data dir's first key."""
    if api_key is not None:
        return api_key
    key_file = settings.data_dir / INITIAL_KEY_FILE
    if not key_file.exists():
        typer.echo("no API key: pass --api-key or set WORKHORSE_API_KEY", err=True)
        raise typer.Exit(2)
    return key_file.read_text().strip()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index")],
    vector_store: Annotated[
        str, typer.Option("--vector-store", help="Name of the vector store (created if missing)")
    ],
    url: Annotated[
        str, typer.Option(envvar="WORKHORSE_URL", help="The running server")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="WORKHORSE_API_KEY", help="Default: the data dir's first key"),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Upload files and folders to a server and index them into a vector store."""
    from rich.console import Console

    from workhorse.ingest_client import IngestError, ingest_paths, summary

    settings = _settings(data_dir=data_dir)
    key = _client_key(api_key, settings)
    console = Console(stderr=True)
    try:
        outcome = ingest_paths(
            paths, store_name=vector_store, base_url=url, api_key=key, console=console
        )
    except IngestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    Console().print(summary(outcome, vector_store))
    if outcome.failed:
        raise typer.Exit(1)


@app.command()
def train(
    training_file: Annotated[Path, typer.Argument(help="Chat examples, one JSON object a line")],
    validation: Annotated[
        Path | None, typer.Option("--validation", help="Validation examples (JSONL)")
    ] = None,
    suffix: Annotated[str | None, typer.Option(help="Part of the fine-tuned model's name")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model to fine-tune (default: the bundled chat model, WORKHORSE_CHAT_MODEL_ID)"
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs (default: auto)", min=1)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Examples a step (default: auto)", min=1)
    ] = None,
    learning_rate_multiplier: Annotated[
        float | None,
        typer.Option(help="Times the base learning rate (default: auto)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the run (default: random)")] = None,
    url: Annotated[
        str, typer.Option(envvar="WORKHORSE_URL", help="The running server")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="WORKHORSE_API_KEY", help="Default: the data dir's first key"),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Fine-tune a model on a JSONL file of chats on a server, and follow the job."""
    from rich.console import Console

    from workhorse.train_client import JobRequest, TrainError, report
    from workhorse.train_client import train as train_on_server

    settings = _settings(data_dir=data_dir)
    key = _client_key(api_key, settings)
    request = JobRequest(
        training=training_file,
        validation=validation,
        model=model or settings.chat_model_id,
        n_epochs=epochs,
        batch_size=batch_size,
        learning_rate_multiplier=learning_rate_multiplier,
        suffix=suffix,
        seed=seed,
    )
    try:
        outcome = train_on_server(request, base_url=url, api_key=key, console=Console(stderr=True))
    except TrainError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    output = Console()
    for line in report(outcome):
        output.print(line, soft_wrap=True)
    if outcome.interrupted:
        raise typer.Exit(130)
    if outcome.job["status"] != "succeeded":
        raise typer.Exit(1)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key, e.g. the client using it")],
    data_dir: DataDirOption = None,
) -> None:
    """Create a key; the key itself is printed alone on the last line."""
    settings = _settings(data_dir=data_dir)
    record, secret = _run_store(settings, lambda keys: keys.create(name))
    typer.echo(f"Created API key {record.id} ({record.name}). It is shown only once:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None) -> None:
    """List keys (never the keys themselves)."""
    settings = _settings(data_dir=data_dir)
    records = _run_store(settings, lambda keys: keys.all())
    typer.echo(f"{'ID':<28} {'NAME':<24} {'PREFIX':<12} {'CREATED':<20} STATUS")
    for r in records:
        status = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        typer.echo(
            f"{r.id:<28} {r.name:<24} {r.prefix + '…':<12} {r.created_at:%Y-%m-%d %H:%M:%S}  "
            f"{status}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id (key_…) or name")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key by id, or every active key with a name."""
    settings = _settings(data_dir=data_dir)
    revoked = _run_store(settings, lambda keys: keys.revoke(key))
    for r in revoked:
        typer.echo(f"Revoked {r.id} ({r.name})")


def main() -> None:
    """Console entry point."""
    app()
