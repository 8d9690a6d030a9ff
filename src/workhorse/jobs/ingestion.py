"""Ingestion jobs in a running process: workers on the queue, and the sweeper.

The sweeper queues again every job whose worker died (its lease ran out) or whose queue
entry was lost, so that no file stays ``in_progress`` forever; a job queued twice runs
once (the second finds it claimed or done).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from workhorse.config import Settings
from workhorse.jobs.queue import Jobs
from workhorse.knowledge.ingest import Ingestor
from workhorse.store.vector_stores import VectorStoreStore

log = logging.getLogger("workhorse.jobs")


class IngestionWorkers:
    """Runs this process's share of ingestion jobs and sweeps for abandoned ones."""

    def __init__(
        self, settings: Settings, jobs: Jobs, ingestor: Ingestor, stores: VectorStoreStore
    ) -> None:
        self._jobs = jobs
        self._ingestor = ingestor
        self._stores = stores
        self._requeue_after = timedelta(seconds=settings.ingest_requeue_after_s)
        self._sweep_s = min(settings.ingest_lease_s, settings.ingest_requeue_after_s) / 2
        self._sweeper: asyncio.Task[None] | None = None
        self._warming: asyncio.Task[None] | None = None
        self._ingests = settings.ingest_workers > 0

    def start(self) -> None:
        """Take jobs on the queue's worker threads; sweep now and then."""
        self._jobs.on_ingest(self._ingestor.run)
        self._jobs.start(asyncio.get_running_loop())
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sweep-ingestion")
        if self._ingests:
            self._warming = asyncio.create_task(self._ingestor.warm(), name="warm-parsers")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                for store_id, file_id in await self._stores.stale_files(self._requeue_after):
                    log.info(
                        "queueing an abandoned ingestion job again",
                        extra={"vector_store_id": store_id, "file_id": file_id},
                    )
                    await self._jobs.enqueue_ingest(store_id, file_id)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not sweep ingestion jobs", exc_info=exc)
            await asyncio.sleep(self._sweep_s)

    async def aclose(self) -> None:
        """Stop sweeping and taking jobs (a running one is left to its lease)."""
        for task in (self._sweeper, self._warming):
            if task is not None:
                task.cancel()
        await asyncio.to_thread(self._jobs.stop)
        await self._ingestor.aclose()
