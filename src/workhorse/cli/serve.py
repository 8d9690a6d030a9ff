"""``workhorse serve`` and ``workhorse worker``: the processes of a deployment."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from workhorse.cli.common import DataDirOption, settings_from
from workhorse.obs.logging import configure_logging

app = typer.Typer()


def _no_progress_bars() -> None:
    """Libraries' progress bars (tqdm's, Hugging Face's) would land in the log."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


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
    _no_progress_bars()
    settings = settings_from(host=host, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
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
    _no_progress_bars()
    settings = settings_from(data_dir=data_dir, ingest_workers=workers)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))
