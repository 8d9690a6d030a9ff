"""Request context: request id, access log, and the last line of defence for errors.

A pure ASGI middleware (it must see every byte and the end of streamed responses):
- honours a sane incoming ``x-request-id`` or makes one, and sets it on every response;
- counts bytes in and out and writes one JSON access-log line per request;
- hands the request inspector its record of the request once the response is done;
- turns an unhandled exception into a 500 in the error envelope, logged by type only.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time

from opentelemetry import context, trace
from opentelemetry.trace import StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workhorse.errors import WorkhorseError
from workhorse.http.errors import error_body
from workhorse.http.inspection import (
    Seen,
    Timing,
    entry_of,
    error_summary,
    rejection_reason,
    request_bytes,
    trace_id_of,
)
from workhorse.obs.inspector import Inspector
from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing, trace_id_hex

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

UNRECORDED = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: counted and logged, but not kept by the request inspector (they
would push the requests that matter out of its bound)."""

access_log = logging.getLogger("workhorse.access")
error_log = logging.getLogger("workhorse.error")


def request_id_from(scope: Scope) -> str:
    """The request's id: the client's if it is sane, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
            break
    return "req_" + secrets.token_hex(12)


def _route_of(scope: Scope) -> str:
    """The matched route's whole template, prefixes included (``/v1/files/{file_id}``), or
    ``unmatched``: bounded label values.

    FastAPI keeps included routers nested, so the matched route knows only its own part
    of the path; the prefixes above it are what the request path has before that part.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return "unmatched"
    path = str(scope.get("path", ""))
    params = {name: str(value) for name, value in scope.get("path_params", {}).items()}
    try:
        own = str(template).format(**params)
    except (KeyError, IndexError, ValueError):
        return str(template)
    prefix = path[: -len(own)] if own and path.endswith(own) else ""
    return prefix + str(template)


def _retry_count(scope: Scope) -> int:
    """``x-stainless-retry-count``: how many times the official SDKs already retried."""
    for name, value in scope.get("headers", []):
        if name == b"x-stainless-retry-count":
            text = value.decode("latin-1")
            return int(text) if text.isdigit() else 0
    return 0


def _budget_warning(state: dict[str, object]) -> str | None:
    """The soft budgets the request passed, if any (``governance.meter.Meter.warnings``)."""
    warnings = getattr(state.get("meter"), "warnings", None)
    return "; ".join(warnings) if warnings else None


class RequestContextMiddleware:
    """Request id, access log, request records and catch-all error rendering."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        log_requests: bool,
        metrics: Metrics,
        inspector: Inspector,
        tracing: Tracing,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.log_requests = log_requests
        self.metrics = metrics
        self.inspector = inspector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.tracing.enabled:
            await self._traced(scope, receive, send)
            return
        await self._handle(scope, receive, send)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request inside its server span (the parent of everything it does)."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = str(scope.get("method"))
        span = self.tracing.server_span(method, headers)
        token = context.attach(trace.set_span_in_context(span))
        state = scope.setdefault("state", {})
        state["span"] = span
        try:
            await self._handle(scope, receive, send)
        finally:
            route = _route_of(scope)
            span.update_name(f"{method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("url.path", str(scope.get("path", "")))
            span.set_attribute("workhorse.request_id", str(state.get("request_id")))
            status = state.get("status", 0)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(StatusCode.ERROR)
            span.end()
            context.detach(token)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        span = state.get("span")
        state["trace_id"] = trace_id_hex(span) if span is not None else trace_id_of(scope)
        header = (b"x-request-id", request_id.encode("latin-1"))
        at_ms = int(time.time() * 1000)
        started = time.perf_counter()
        capture = self.inspector.capture_bytes if self.inspector.enabled else 0
        seen = Seen(keep_request=capture, keep_response=max(capture, 4096))

        async def counting_receive() -> Message:
            message = await receive()
            seen.received(message)
            return message

        async def tagging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            seen.sent(message)
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, counting_receive, tagging_send)
        except Exception as exc:
            error_log.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": request_id, "path": scope.get("path")},
            )
            if seen.status == 0:
                await self._send_500(tagging_send, request_id, str(scope.get("path", "")))
        finally:
            state["status"] = seen.status
            self.metrics.in_flight.dec()
            self._finish(scope, seen, Timing(at_ms, (time.perf_counter() - started) * 1000))

    def _finish(self, scope: Scope, seen: Seen, timing: Timing) -> None:
        """Count, log and record the request whose response is done."""
        state = scope.get("state", {})
        route = _route_of(scope)
        retries = _retry_count(scope)
        self._count(scope, seen, timing, route, retries)
        error_code = error_summary(state, str(scope.get("path", "")), seen).code
        if self.inspector.enabled and route not in UNRECORDED:
            capture = self.inspector.capture_bytes if self.inspector.captures(route) else None
            try:
                entry = entry_of(scope, seen, timing, route=route, retries=retries, capture=capture)
            except Exception as exc:  # the record must never fail the request it describes
                error_log.error("could not record the request", exc_info=exc)
                self.metrics.inspector_dropped.labels("unrecordable").inc()
            else:
                self.inspector.submit(entry)
        if self.log_requests:
            access_log.info(
                "request",
                extra={
                    "request_id": state.get("request_id"),
                    "trace_id": state.get("trace_id"),
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": seen.status,
                    "duration_ms": round(timing.duration_ms, 2),
                    "bytes_in": seen.bytes_in,
                    "bytes_out": seen.bytes_out,
                    "api_key_id": state.get("api_key_id"),
                    "project_id": state.get("project_id"),
                    "client_retry": retries,
                    "error_code": error_code,
                    "budget_warning": _budget_warning(state),
                },
            )

    def _count(self, scope: Scope, seen: Seen, timing: Timing, route: str, retries: int) -> None:
        state = scope.get("state", {})
        metrics, method = self.metrics, str(scope.get("method"))
        metrics.requests.labels(method, route, str(seen.status)).inc()
        metrics.duration.labels(method, route).observe(timing.duration_ms / 1000)
        metrics.request_size.labels(method, route).observe(request_bytes(scope, seen))
        metrics.response_size.labels(method, route).observe(seen.bytes_out)
        if retries:
            metrics.client_retries.labels(method, route).inc()
        if seen.disconnected or (seen.status and not seen.finished):
            metrics.client_disconnects.labels(method, route).inc()
        reason = rejection_reason(state)
        if reason is not None:
            metrics.rejections.labels(route, reason).inc()
        outcome = state.get("idempotency")
        if outcome is not None:
            metrics.idempotency.labels(outcome).inc()

    @staticmethod
    async def _send_500(send: Send, request_id: str, path: str) -> None:
        error = WorkhorseError(f"internal error; quote request id {request_id} when reporting it")
        body = json.dumps(error_body(error, path, request_id)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
