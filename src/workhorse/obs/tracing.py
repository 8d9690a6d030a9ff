"""OpenTelemetry traces: off unless the standard ``OTEL_EXPORTER_OTLP_*`` settings name a
collector, then exported over OTLP (``http/protobuf`` by default, ``grpc`` with
``OTEL_EXPORTER_OTLP_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``).

Off, the tracer is the API's no-op one and the middleware skips its span work entirely.
On, a process gets its own ``TracerProvider`` (never the global one) with a batching
exporter; the request span is the parent of the pipeline stages (decode, validation,
idempotency claim), the database calls (SQLAlchemy's instrumentation), the model calls
(``chat {model}`` / ``embeddings {model}`` with the GenAI attributes) and the upstream
HTTP calls (httpx's instrumentation, which sends ``traceparent`` on). A job carries the
``traceparent`` of the request that queued it; its spans link to that request even when
another process runs it. Prompt and answer text are recorded only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.engine import Engine

from workhorse import __version__

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROPAGATOR = TraceContextTextMapPropagator()


def _exporter(environ: Mapping[str, str]) -> SpanExporter:
    """The OTLP exporter the settings ask for, aimed at their endpoint (headers, timeouts
    and certificates the SDK reads from the environment itself)."""
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = traces or base
        insecure = environ.get("OTEL_EXPORTER_OTLP_INSECURE", "").lower() == "true"
        return OTLPSpanExporter(
            endpoint=endpoint, insecure=insecure or endpoint.startswith("http:")
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=traces or base.rstrip("/") + "/v1/traces")


class Tracing:
    """The tracer of one process, and what it instruments."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, role: str = "server") -> None:
        env = os.environ if environ is None else environ
        wanted = env.get("OTEL_TRACES_EXPORTER", "otlp") != "none"
        self.enabled = wanted and any(env.get(name) for name in _ENDPOINTS)
        self.capture_content = (
            env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").lower() == "true"
        )
        self.provider: TracerProvider | None = None
        self.tracer: Tracer = trace.NoOpTracer()
        if self.enabled:
            resource = Resource.create(
                {
                    "service.name": env.get("OTEL_SERVICE_NAME", "workhorse"),
                    "service.version": __version__,
                    "workhorse.process": role,
                }
            )
            self.provider = TracerProvider(resource=resource)
            self.provider.add_span_processor(BatchSpanProcessor(_exporter(env)))
            self.tracer = self.provider.get_tracer("workhorse", __version__)

    def instrument(self, engines: Iterable[Engine]) -> None:
        """Database spans for every statement on ``engines``."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses unchanged.
        SQLAlchemyInstrumentor().instrument(
            engines=list(engines),
            tracer_provider=self.provider,
            enable_commenter=False,
            skip_dep_check=True,
        )

    def instrument_client(self, client: Any) -> None:
        """Spans (and ``traceparent``) for the requests of an httpx client."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """A span for one stage of the current request's pipeline."""
        if not self.enabled:
            yield
            return
        with self.tracer.start_as_current_span(name):
            yield

    def server_span(self, name: str, headers: Mapping[str, str]) -> Span:
        """The span of an incoming request, a child of its ``traceparent`` if it sent one."""
        return self.tracer.start_span(name, context=extract(headers), kind=SpanKind.SERVER)

    @contextmanager
    def job_span(self, name: str, traceparent: str | None, **attributes: Any) -> Iterator[Span]:
        """The span of a job attempt, linked to the request that queued it."""
        links = []
        if traceparent:
            linked = trace.get_current_span(_PROPAGATOR.extract({"traceparent": traceparent}))
            if linked.get_span_context().is_valid:
                links.append(Link(linked.get_span_context()))
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.CONSUMER, links=links, attributes=attributes
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is buffered and stop."""
        if self.provider is not None:
            self.provider.shutdown()


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, to queue with a job."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_id_hex(span: Span) -> str | None:
    """The span's trace id as 32 hex digits, if it is a real span."""
    context = span.get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
