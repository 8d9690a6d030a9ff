"""``workhorse ingest`` and ``workhorse train``: clients of a running server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workhorse.cli.common import DataDirOption, client_key, settings_from

app = typer.Typer()


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

    settings = settings_from(data_dir=data_dir)
    key = client_key(api_key, settings)
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

    settings = settings_from(data_dir=data_dir)
    key = client_key(api_key, settings)
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
