"""Request context: request id, access log, and the last line of defence for errors.

A pure ASGI middleware (it must see every byte and the end of streamed responses):
- honours a sane incoming ``x-request-id`` or makes one, and sets it on every response;
- counts bytes in and out and writes one JSON access-log line per request;
- turns an unhandled exception into a 500 in the error envelope, logged by type only.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workhorse.errors import WorkhorseError
from workhorse.http.errors import error_body
from workhorse.obs.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

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
    """The matched route's template (bounded label values), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


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
    """Request id, access log and catch-all error rendering for HTTP requests."""

    def __init__(self, app: ASGIApp, *, log_requests: bool, metrics: Metrics) -> None:
        self.app = app
        self.log_requests = log_requests
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("latin-1"))
        started = time.perf_counter()
        counts = {"in": 0, "out": 0, "status": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                counts["in"] += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                counts["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            elif message["type"] == "http.response.body":
                counts["out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, tagging_send)
        except Exception as exc:
            error_log.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": request_id, "path": scope.get("path")},
            )
            if counts["status"] == 0:
                await self._send_500(tagging_send, request_id, str(scope.get("path", "")))
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = str(scope.get("method"))
            retries = _retry_count(scope)
            self.metrics.requests.labels(method, route, str(counts["status"])).inc()
            self.metrics.duration.labels(method, route).observe(elapsed)
            if retries:
                self.metrics.client_retries.labels(method, route).inc()
            if self.log_requests:
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": counts["status"],
                        "duration_ms": round(elapsed * 1000, 2),
                        "bytes_in": counts["in"],
                        "bytes_out": counts["out"],
                        "api_key_id": state.get("api_key_id"),
                        "project_id": state.get("project_id"),
                        "client_retry": retries,
                        "budget_warning": _budget_warning(state),
                    },
                )

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
