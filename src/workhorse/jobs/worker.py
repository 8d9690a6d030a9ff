"""``workhorse worker``: a process that only runs jobs from the shared queue.

Scaled out, the queue is Redis (``WORKHORSE_QUEUE_URL``) and the database PostgreSQL;
any number of workers on any machines take ingestion jobs, beside or instead of the
servers' own worker threads. A worker loads the embedding model, not the chat models.
It stops on SIGINT or SIGTERM; a job it was running is taken up again elsewhere once its
lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from workhorse.config import Settings
from workhorse.obs.metrics_server import MetricsServer
from workhorse.services import build_container, ingestion_workers, training_workers
from workhorse.store.db import migrate

log = logging.getLogger("workhorse.worker")


async def run_worker(settings: Settings) -> None:
    """Run ingestion jobs until a stop signal."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(migrate, settings.resolved_database_url())
    container = build_container(settings, chat=False)
    container.models.start_loading()
    await container.models.wait_loaded()
    workers = ingestion_workers(container)
    trainers = training_workers(container)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    metrics_server = None
    if settings.metrics_port is not None:
        metrics_server = MetricsServer(container.exposition, settings.host, settings.metrics_port)
        await metrics_server.start()
    trainers.start()
    workers.start()
    log.info("worker ready", extra={"workers": settings.ingest_workers})
    try:
        await stop.wait()
    finally:
        if metrics_server is not None:
            await metrics_server.aclose()
        await trainers.aclose()
        await workers.aclose()
        await container.index.aclose()
        await container.models.aclose()
        await container.db.dispose()
        await asyncio.to_thread(container.tracing.shutdown)
