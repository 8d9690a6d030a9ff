"""Which exporter the standard settings choose: none without an endpoint, OTLP over HTTP
by default, OTLP over gRPC when asked (checked against a real gRPC trace service)."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from workhorse.obs.tracing import Tracing


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
