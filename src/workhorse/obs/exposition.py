"""``/metrics``: the registry rendered, after the shared-state figures are read afresh.

Served by ``workhorse serve`` (on its own port with ``WORKHORSE_METRICS_PORT``, or behind
an admin key with ``WORKHORSE_METRICS_REQUIRE_ADMIN``) and by each ``workhorse worker``
on its own port.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from workhorse.obs.metrics import Metrics
from workhorse.store.db import Database
from workhorse.store.stats import blob_bytes, queued_jobs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REFRESH_S = 1.0

log = logging.getLogger("workhorse.metrics")


class Exposition:
    """Renders one process's metrics; the database figures at most once a second."""

    def __init__(self, metrics: Metrics, db: Database) -> None:
        self._metrics = metrics
        self._db = db
        self._read_at = -REFRESH_S
        self._lock = asyncio.Lock()

    async def render(self) -> bytes:
        async with self._lock:
            if time.monotonic() - self._read_at >= REFRESH_S:
                await self._refresh()
                self._read_at = time.monotonic()
        return self._metrics.render()

    async def _refresh(self) -> None:
        try:
            for kind, count in (await queued_jobs(self._db)).items():
                self._metrics.jobs_queued.labels(kind).set(count)
            self._metrics.blob_bytes.set(await blob_bytes(self._db))
        except (SQLAlchemyError, OSError) as exc:  # the process's own figures still count
            log.warning("could not read the shared-state figures", exc_info=exc)
