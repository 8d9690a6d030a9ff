"""Prometheus metrics, in a registry of the app's own (no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """The counters and histograms one app exposes at ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "workhorse_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "workhorse_http_request_duration_seconds",
            "Time from request to the last byte of the response, by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self.client_retries = Counter(
            "workhorse_client_retries",
            "Requests that SDKs marked as automatic retries (x-stainless-retry-count > 0).",
            ["method", "route"],
            registry=self.registry,
        )
        self.generations = Counter(
            "workhorse_generations",
            "Generations started on a chat model, by model.",
            ["model"],
            registry=self.registry,
        )
        self.idempotent_replays = Counter(
            "workhorse_idempotent_replays",
            "Responses replayed for a repeated Idempotency-Key.",
            registry=self.registry,
        )

        self.ingested_files = Counter(
            "workhorse_ingested_files",
            "Ingestion jobs ended, by status (completed, failed, cancelled).",
            ["status"],
            registry=self.registry,
        )
        self.ingested_chunks = Counter(
            "workhorse_ingested_chunks",
            "Chunks indexed, by how their vectors came: embedded, or copied from a store "
            "that already holds the same content.",
            ["source"],
            registry=self.registry,
        )

        self.inspector_written = Counter(
            "workhorse_inspector_written_records",
            "Request records the inspector wrote to the database.",
            registry=self.registry,
        )
        self.inspector_dropped = Counter(
            "workhorse_inspector_dropped_records",
            "Request records the inspector dropped rather than slow a request, by reason "
            "(queue_full, write_failed).",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
