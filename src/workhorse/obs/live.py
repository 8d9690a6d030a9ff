"""Metrics read when scraped, from the objects that hold them: model instance occupancy,
the database pool, the SQLite writer's queue and the waits of write transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector


@dataclass
class LiveSources:
    """Values read when scraped, from the objects that hold them."""

    model_slots: Callable[[], Iterable[tuple[str, int, int]]] = lambda: ()
    """(model, running, waiting) per model instance."""
    db_pool: Callable[[], tuple[int, int]] = lambda: (0, 0)
    """Connections checked out, and idle in the pool."""
    db_writes: Callable[[], tuple[int, int, float]] = lambda: (0, 0, 0.0)
    """Writes waiting for the SQLite writer, writes done, seconds they waited in all."""


class LiveCollector(Collector):
    """Yields the live families on every scrape."""

    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        slots_running = GaugeMetricFamily(
            "workhorse_model_requests_running",
            "Generations or embedding calls running on a model instance.",
            labels=["model"],
        )
        slots_waiting = GaugeMetricFamily(
            "workhorse_model_requests_waiting",
            "Calls waiting for a busy model instance.",
            labels=["model"],
        )
        for model, running, waiting in self.sources.model_slots():
            slots_running.add_metric([model], running)
            slots_waiting.add_metric([model], waiting)
        yield slots_running
        yield slots_waiting
        in_use, idle = self.sources.db_pool()
        pool = GaugeMetricFamily(
            "workhorse_db_pool_connections",
            "Database connections of this process's pool, by state (in_use, idle).",
            labels=["state"],
        )
        pool.add_metric(["in_use"], in_use)
        pool.add_metric(["idle"], idle)
        yield pool
        waiting, count, waited = self.sources.db_writes()
        yield GaugeMetricFamily(
            "workhorse_db_writer_queue_length",
            "Write transactions waiting for this process's SQLite writer thread.",
            value=waiting,
        )
        yield SummaryMetricFamily(
            "workhorse_db_write_wait_seconds",
            "Time write transactions waited for a connection or the SQLite writer.",
            count_value=count,
            sum_value=waited,
        )
