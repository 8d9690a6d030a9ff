"""Prometheus metrics, in a registry of the app's own (no process-wide globals).

Every process (a server, a ``workhorse worker``) counts its own work in its own registry
and serves it on its own endpoint: a job that moves between processes is counted by each
for what each did (a start, a takeover, the end), so sums across processes are exact.
Labels are bounded: a method, a route template, a status, a model, an API, a reason;
never an id, a key or a prompt. ``docs/observability.md`` lists every metric.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from workhorse.obs.live import LiveCollector, LiveSources

# The bucket boundaries of the OpenTelemetry GenAI semantic conventions.
TTFT_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5)
TTFT_BUCKETS += (0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
GENAI_DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
GENAI_DURATION_BUCKETS += (2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
SIZE_BUCKETS = tuple(float(4**n) for n in range(3, 15))  # 64 B .. 64 MiB
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)

REJECTION_REASONS = (
    "payload_too_large",
    "unsupported_media_type",
    "invalid_body",
    "validation",
    "request_timeout",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "busy",
)
IDEMPOTENCY_OUTCOMES = (
    "claimed",
    "replayed",
    "conflict",
    "mismatch",
    "invalid",
    "expired_takeover",
)
FINISH_REASONS = ("stop", "length", "cancelled", "error", "interrupted")
JOB_TYPES = ("ingestion", "training", "background_response", "eval_run")


class JobAttempt:
    """Counts one job attempt: started and running now; at its end, how it ended
    (``outcome``: succeeded, failed, cancelled, retried, lost) and how long it took."""

    def __init__(self, metrics: Metrics, kind: str) -> None:
        self._metrics = metrics
        self.kind = kind
        self.outcome = "lost"
        self._started = 0.0

    def __enter__(self) -> JobAttempt:
        self._started = time.perf_counter()
        self._metrics.jobs_started.labels(self.kind).inc()
        self._metrics.jobs_running.labels(self.kind).inc()
        return self

    def __exit__(self, *exc: object) -> None:
        metrics, kind = self._metrics, self.kind
        metrics.jobs_running.labels(kind).dec()
        elapsed = time.perf_counter() - self._started
        metrics.job_duration.labels(kind, self.outcome).observe(elapsed)

    def ended(self, status: str, reason: str | None = None) -> None:
        """The job ended ``completed``, ``failed`` (with ``reason``), or ``cancelled``;
        or ``retried``: this attempt ends, the job will run again."""
        metrics, kind = self._metrics, self.kind
        if status in ("completed", "succeeded", "incomplete"):  # incomplete: its token cap
            self.outcome = "succeeded"
            metrics.jobs_succeeded.labels(kind).inc()
        elif status == "failed":
            self.outcome = "failed"
            metrics.jobs_failed.labels(kind, reason or "server_error").inc()
        elif status == "cancelled":
            self.outcome = "cancelled"
            metrics.jobs_cancelled.labels(kind).inc()
        elif status == "retried":
            self.outcome = "retried"
            metrics.jobs_retried.labels(kind).inc()


class Metrics:
    """The metrics one process exposes at ``GET /metrics``."""

    def __init__(self, *, version: str = "", dialect: str = "", queue: str = "") -> None:
        # The ``_created`` series would double the exposition, and scrapers ignore them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.live = LiveSources()
        registry.register(LiveCollector(self.live))
        build = Gauge(
            "workhorse_build_info",
            "The running build: version, database dialect, queue backend (always 1).",
            ["version", "database", "queue"],
            registry=registry,
        )
        build.labels(version, dialect, queue).set(1)

        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
        ) -> Histogram:
            return Histogram(name, doc, labels, registry=registry, buckets=buckets)

        # HTTP
        self.requests = counter(
            "workhorse_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
        )
        self.duration = Histogram(
            "workhorse_http_request_duration_seconds",
            "Time from request to the last byte of the response, by method and route.",
            ["method", "route"],
            registry=registry,
        )
        self.request_size = histogram(
            "workhorse_http_request_size_bytes",
            "Request body sizes, by method and route.",
            ["method", "route"],
            SIZE_BUCKETS,
        )
        self.response_size = histogram(
            "workhorse_http_response_size_bytes",
            "Response body sizes, by method and route.",
            ["method", "route"],
            SIZE_BUCKETS,
        )
        self.in_flight = Gauge(
            "workhorse_http_requests_in_flight",
            "HTTP requests being answered now.",
            registry=registry,
        )
        # The POST pipeline
        self.rejections = counter(
            "workhorse_http_rejections",
            "Requests refused by the pipeline, by route and reason: "
            + ", ".join(REJECTION_REASONS),
            ["route", "reason"],
        )
        self.idempotency = counter(
            "workhorse_idempotency_requests",
            "Requests that sent an Idempotency-Key, by outcome: " + ", ".join(IDEMPOTENCY_OUTCOMES),
            ["outcome"],
        )
        self.idempotent_replays = counter(
            "workhorse_idempotent_replays",
            "Responses replayed for a repeated Idempotency-Key.",
        )
        self.client_retries = counter(
            "workhorse_client_retries",
            "Requests that SDKs marked as automatic retries (x-stainless-retry-count > 0).",
            ["method", "route"],
        )
        self.client_disconnects = counter(
            "workhorse_client_disconnects",
            "Responses the client went away from before their end, by method and route.",
            ["method", "route"],
        )
        # Generation
        self.generations = counter(
            "workhorse_generations",
            "Generations started on a chat model, by model.",
            ["model"],
        )
        self.generation_requests = counter(
            "workhorse_generation_requests",
            "Generations ended, by model, API (chat, responses, messages) and finish reason: "
            + ", ".join(FINISH_REASONS),
            ["model", "api", "finish_reason"],
        )
        self.generation_tokens = counter(
            "workhorse_generation_tokens",
            "Tokens of ended generations, by model, API and type (input, output).",
            ["model", "api", "type"],
        )
        self.ttft = histogram(
            "workhorse_generation_time_to_first_token_seconds",
            "gen_ai.server.time_to_first_token: from the model call to the first text.",
            ["model", "api"],
            TTFT_BUCKETS,
        )
        self.tpot = histogram(
            "workhorse_generation_time_per_output_token_seconds",
            "gen_ai.server.time_per_output_token: after the first token, per output token.",
            ["model", "api"],
            TPOT_BUCKETS,
        )
        self.generation_duration = histogram(
            "workhorse_generation_duration_seconds",
            "gen_ai.server.request.duration: from the model call to the generation's end.",
            ["model", "api"],
            GENAI_DURATION_BUCKETS,
        )
        self.model_wait = histogram(
            "workhorse_model_queue_wait_seconds",
            "Time a call waited for its model instance before running, by model.",
            ["model"],
            GENAI_DURATION_BUCKETS,
        )
        self.truncations = counter(
            "workhorse_context_truncations",
            "Requests whose history was truncated to fit the context window, by model.",
            ["model"],
        )
        self.truncated_items = counter(
            "workhorse_context_truncated_items",
            "Conversation items dropped to fit the context window, by model.",
            ["model"],
        )
        # Embeddings
        self.embedding_inputs = counter(
            "workhorse_embedding_inputs", "Texts embedded, by model.", ["model"]
        )
        self.embedding_tokens = counter(
            "workhorse_embedding_tokens", "Tokens of the texts embedded, by model.", ["model"]
        )
        self.embedding_batch = histogram(
            "workhorse_embedding_batch_size",
            "Texts per embedding model call, by model.",
            ["model"],
            BATCH_BUCKETS,
        )
        self.embedding_duration = histogram(
            "workhorse_embedding_duration_seconds",
            "Time of an embedding model call, waiting included, by model.",
            ["model"],
            GENAI_DURATION_BUCKETS,
        )
        # Jobs
        self.jobs_queued = Gauge(
            "workhorse_jobs_queued",
            "Jobs waiting in the shared queue, by type (the same figure in every process).",
            ["type"],
            registry=registry,
        )
        self.jobs_running = Gauge(
            "workhorse_jobs_running",
            "Jobs this process runs now, by type.",
            ["type"],
            registry=registry,
        )
        self.jobs_started = counter(
            "workhorse_jobs_started", "Job attempts this process started, by type.", ["type"]
        )
        self.jobs_succeeded = counter(
            "workhorse_jobs_succeeded", "Jobs this process ended successfully, by type.", ["type"]
        )
        self.jobs_failed = counter(
            "workhorse_jobs_failed",
            "Jobs this process ended failed, by type and reason (the error code).",
            ["type", "reason"],
        )
        self.jobs_cancelled = counter(
            "workhorse_jobs_cancelled", "Jobs this process ended cancelled, by type.", ["type"]
        )
        self.jobs_retried = counter(
            "workhorse_jobs_retried",
            "Job attempts this process ended to be tried again, by type.",
            ["type"],
        )
        self.jobs_taken_over = counter(
            "workhorse_jobs_taken_over",
            "Jobs this process took over after another holder's lease expired, by type.",
            ["type"],
        )
        self.job_duration = histogram(
            "workhorse_job_duration_seconds",
            "Time of one job attempt in this process, by type and outcome.",
            ["type", "outcome"],
            JOB_BUCKETS,
        )
        self.ingested_files = counter(
            "workhorse_ingested_files",
            "Ingestion jobs ended, by status (completed, failed, cancelled).",
            ["status"],
        )
        self.ingested_chunks = counter(
            "workhorse_ingested_chunks",
            "Chunks indexed, by how their vectors came: embedded, or copied from a store "
            "that already holds the same content.",
            ["source"],
        )
        self.ingested_pages = counter(
            "workhorse_ingested_pages",
            "Pages (or slides) with text of the documents ingested (paged formats only).",
        )
        self.ingested_bytes = counter(
            "workhorse_ingested_bytes", "Bytes of the documents ingested."
        )
        self.training_steps = counter(
            "workhorse_training_steps", "Optimizer steps trained, by base model.", ["model"]
        )
        self.training_tokens = counter(
            "workhorse_training_tokens", "Tokens trained on, by base model.", ["model"]
        )
        self.training_loss = Gauge(
            "workhorse_training_last_loss",
            "Training loss of the newest step of any job on a base model.",
            ["model"],
            registry=registry,
        )
        # Storage
        self.blob_bytes = Gauge(
            "workhorse_blob_bytes",
            "Bytes of the distinct file contents stored (the same in every process).",
            registry=registry,
        )
        # The inspector
        self.inspector_written = counter(
            "workhorse_inspector_written_records",
            "Request records the inspector wrote to the database.",
        )
        self.inspector_dropped = counter(
            "workhorse_inspector_dropped_records",
            "Request records the inspector dropped rather than slow a request, by reason "
            "(queue_full, write_failed, unrecordable).",
            ["reason"],
        )

    def job(self, kind: str) -> JobAttempt:
        """One attempt at a job of ``kind``, timed and counted (``with``)."""
        return JobAttempt(self, kind)

    def waited(self, model: str, seconds: float) -> None:
        """A call waited for its model instance (``providers.base.ModelObserver``)."""
        self.model_wait.labels(model).observe(seconds)

    def embedded(self, model: str, inputs: int, tokens: int, seconds: float) -> None:
        """One embedding call ended (``providers.base.ModelObserver``)."""
        self.embedding_inputs.labels(model).inc(inputs)
        self.embedding_tokens.labels(model).inc(tokens)
        self.embedding_batch.labels(model).observe(inputs)
        self.embedding_duration.labels(model).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
