"""Which exporter the standard settings choose: none without an endpoint, OTLP over HTTP
by default, OTLP over gRPC when asked (checked against a real gRPC trace service)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from workhorse.obs.generation import watched
from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.base import (
    ChatMessage,
    Finish,
    Generation,
    GenerationEvent,
    GenerationParams,
    TextDelta,
)


def test_tracing_is_off_without_an_endpoint_and_when_turned_off() -> None:
    assert not Tracing({}).enabled
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert not Tracing({**endpoint, "OTEL_TRACES_EXPORTER": "none"}).enabled
    assert Tracing(endpoint).enabled


def test_grpc_is_used_when_asked() -> None:
    received: list[Any] = []

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(
            self, request: Any, context: Any
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            received.extend(
                span.name
                for resource in request.resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            )
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        tracing = Tracing(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            }
        )
        with tracing.tracer.start_as_current_span("over grpc"):
            pass
        assert tracing.provider is not None
        assert tracing.provider.force_flush(10_000)
        tracing.shutdown()
    finally:
        server.stop(None)
    assert received == ["over grpc"]


class _OneWord:
    """A generation of one word: what the watcher sees of any model."""

    prompt_tokens, completion_tokens = 3, 1

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        yield TextDelta("hi")
        yield Finish("stop", 3, 1)

    async def aclose(self) -> None:
        pass


class _Model:
    id, owned_by = "m", "workhorse"


async def _started() -> Generation:
    return _OneWord()


def _chat_spans(capture: str) -> list[Any]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    tracing = Tracing({**env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": capture})
    memory = InMemorySpanExporter()
    assert tracing.provider is not None
    tracing.provider.add_span_processor(SimpleSpanProcessor(memory))
    params = GenerationParams(messages=[ChatMessage("user", "secret-word")], max_tokens=4)

    async def run() -> None:
        generation = await watched(Metrics(), tracing, "chat", _Model(), _started(), params)  # type: ignore[arg-type]
        async for _ in generation:
            pass

    asyncio.run(run())
    spans = list(memory.get_finished_spans())
    tracing.provider.shutdown()
    return spans


def test_prompt_text_is_recorded_only_when_content_capture_is_on() -> None:
    (quiet,) = _chat_spans("false")
    assert "secret-word" not in repr([e.attributes for e in quiet.events])
    assert quiet.attributes is not None
    assert quiet.attributes["gen_ai.request.max_tokens"] == 4
    (captured,) = _chat_spans("true")
    inputs = [e for e in captured.events if e.name == "gen_ai.input.messages"]
    assert inputs
    assert "user: secret-word" in inputs[0].attributes["content"]
