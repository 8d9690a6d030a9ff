"""The process's own metrics history, for the console's dashboard: no Prometheus needed.

Every ``interval_s`` the sampler reads this process's registry (the shared-state figures
refreshed as ``/metrics`` would) and keeps, for a day, what the dashboard charts: the
time-to-first-token histogram, output tokens, jobs waiting, jobs failed. Rates and
percentiles come from the difference between two samples, as Prometheus's ``rate`` and
``histogram_quantile`` compute them. The history is this process's, kept in memory: a
restart begins it again (the request records, which every replica writes to the shared
database, are the durable history).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field

from workhorse.obs.exposition import Exposition
from workhorse.obs.metrics import Metrics

log = logging.getLogger("workhorse.history")
KEEP_S = 24 * 3600


@dataclass(frozen=True)
class Sample:
    """The cumulative figures at one moment."""

    at: float
    """Unix seconds."""
    ttft_buckets: tuple[tuple[float, float], ...]
    """``(upper bound, cumulative count)`` of the time-to-first-token histogram."""
    output_tokens: float
    jobs_queued: float
    jobs_failed: float


@dataclass
class MetricsHistory:
    """Samples the registry every ``interval_s`` and keeps a day of samples."""

    metrics: Metrics
    exposition: Exposition
    interval_s: float = 15.0
    samples: deque[Sample] = field(default_factory=deque)
    _task: asyncio.Task[None] | None = None

    def read(self) -> Sample:
        """The figures now."""
        buckets: dict[float, float] = {}
        output = queued = failed = 0.0
        for family in self.metrics.registry.collect():
            for s in family.samples:
                if s.name == "workhorse_generation_time_to_first_token_seconds_bucket":
                    bound = float(s.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + s.value
                elif s.name == "workhorse_generation_tokens_total":
                    if s.labels.get("type") == "output":
                        output += s.value
                elif s.name == "workhorse_jobs_queued":
                    queued += s.value
                elif s.name == "workhorse_jobs_failed_total":
                    failed += s.value
        return Sample(time.time(), tuple(sorted(buckets.items())), output, queued, failed)

    async def sample(self) -> None:
        """Take one sample now (the shared-state figures read afresh first)."""
        await self.exposition.render()
        now = self.read()
        self.samples.append(now)
        while self.samples and self.samples[0].at < now.at - KEEP_S:
            self.samples.popleft()

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="metrics-history")

    async def _forever(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # a missed sample is a gap in a chart, no more
                log.warning("could not sample the metrics", exc_info=exc)
            await asyncio.sleep(self.interval_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram's cumulative ``(upper bound, count)`` buckets,
    interpolated within its bucket as Prometheus's ``histogram_quantile`` does."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, count
    return lower
