"""The request inspector's writer: records of answered requests, written after the fact.

Recording never slows or fails the request it describes. ``submit`` only puts the entry
on a bounded in-memory queue; one background task writes what is queued in batches (one
transaction each) and prunes the log by count and age now and then. When the queue is
full, or the database refuses a batch, entries are dropped and counted
(``workhorse_inspector_dropped_records_total``), never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.exc import SQLAlchemyError

from workhorse.config import Settings
from workhorse.obs.metrics import Metrics
from workhorse.store.request_log import Entry, RequestLog

log = logging.getLogger("workhorse.inspector")

BATCH = 256


class Inspector:
    """Queues request records and writes them in the background."""

    def __init__(self, requests: RequestLog, settings: Settings, metrics: Metrics) -> None:
        self.requests = requests
        self._settings = settings
        self._metrics = metrics
        self._queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=settings.inspector_queue_size)
        self._task: asyncio.Task[None] | None = None
        self._capture = frozenset(settings.inspector_capture_routes)

    @property
    def enabled(self) -> bool:
        """Whether requests are recorded at all (``inspector_max_records`` > 0)."""
        return self._settings.inspector_max_records > 0

    def captures(self, route: str) -> bool:
        """Whether headers and bodies of requests to ``route`` (a template) are kept."""
        return route in self._capture or "*" in self._capture

    @property
    def capture_bytes(self) -> int:
        """The most bytes kept of each captured body."""
        return self._settings.inspector_capture_bytes

    def submit(self, entry: Entry) -> None:
        """Queue ``entry`` for writing; drop it (counted) when the queue is full."""
        if not self.enabled:
            return
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self._metrics.inspector_dropped.labels("queue_full").inc()

    def start(self) -> None:
        """Start the writer (in the app's lifespan)."""
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="request-inspector")

    async def aclose(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        while not self._queue.empty():
            await self._write(self._take())

    def _take(self, most: int = BATCH) -> list[Entry]:
        batch: list[Entry] = []
        while len(batch) < most and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _write(self, batch: list[Entry]) -> None:
        try:
            await self.requests.add(batch)
        except SQLAlchemyError as exc:
            self._metrics.inspector_dropped.labels("write_failed").inc(len(batch))
            log.warning("could not write request records", exc_info=exc)
        else:
            self._metrics.inspector_written.inc(len(batch))

    async def _prune(self) -> None:
        settings = self._settings
        cutoff = int((time.time() - settings.inspector_max_age_s) * 1000)
        try:
            await self.requests.prune(
                max_records=settings.inspector_max_records, older_than_ms=cutoff
            )
        except SQLAlchemyError as exc:
            log.warning("could not prune request records", exc_info=exc)

    async def _write_forever(self) -> None:
        # The records' own writes are no request's work: they would each start a trace.
        with suppress_instrumentation():
            await self._write_batches()

    async def _write_batches(self) -> None:
        next_prune = 0.0
        while True:
            first = await self._queue.get()
            batch = [first, *self._take(BATCH - 1)]
            await self._write(batch)
            if time.monotonic() >= next_prune:
                await self._prune()
                next_prune = time.monotonic() + self._settings.inspector_prune_s
