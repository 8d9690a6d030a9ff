"""Limits on the wire: the rate-limit headers of a limited key, and each request's end.

The admission itself runs in the auth dependency (``auth.require_api_key``), before any
work. This middleware, outside the idempotency one (so stored replays never carry stale
counts), adds to every response of a limited key OpenAI's ``x-ratelimit-*`` headers and
the IETF ``RateLimit`` / ``RateLimit-Policy`` fields (draft-ietf-httpapi-ratelimit-
headers), and when the response ends frees its concurrency lease and adds the request to
the usage record. An idempotent replay costs nothing: its admission is refunded and it
is not counted again.
"""

from __future__ import annotations

import math
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workhorse.governance.meter import Meter
from workhorse.store.limits import Admission, LimitStore, Window
from workhorse.store.usage import Spend, UsageStore

WARNING_HEADER = "x-workhorse-budget-warning"


def reset_text(ms: int) -> str:
    """OpenAI's reset notation: ``20ms``, ``1.5s``, ``6m0s``."""
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


def rate_headers(admission: Admission) -> list[tuple[str, str]]:
    """The rate-limit headers of one admitted request."""
    headers: list[tuple[str, str]] = []
    policy: list[str] = []
    state: list[str] = []
    windows: list[tuple[str, Window | None]] = [
        ("requests", admission.requests),
        ("tokens", admission.tokens),
    ]
    for name, window in windows:
        if window is None:
            continue
        headers += [
            (f"x-ratelimit-limit-{name}", str(window.limit)),
            (f"x-ratelimit-remaining-{name}", str(max(window.remaining, 0))),
            (f"x-ratelimit-reset-{name}", reset_text(window.reset_ms)),
        ]
        policy.append(f'"{name}";q={window.limit};w=60')
        state.append(f'"{name}";r={max(window.remaining, 0)};t={math.ceil(window.reset_ms / 1000)}')
    if policy:
        headers += [("ratelimit-policy", ", ".join(policy)), ("ratelimit", ", ".join(state))]
    return headers


class GovernanceMiddleware:
    """Rate-limit headers, lease release and the request's usage, for ``/v1`` requests."""

    def __init__(self, app: ASGIApp, *, limits: LimitStore, usage: UsageStore) -> None:
        self.app = app
        self.limits = limits
        self.usage = usage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        replayed = False

        async def sending(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                state = scope.get("state", {})
                headers = list(message.get("headers", []))
                replayed = any(k.lower() == b"idempotent-replayed" for k, _ in headers)
                admission = state.get("admission")
                extra = rate_headers(admission) if isinstance(admission, Admission) else []
                meter = state.get("meter")
                if isinstance(meter, Meter) and meter.warnings:
                    extra.append((WARNING_HEADER, "; ".join(meter.warnings)))
                headers += [(k.encode(), v.encode("latin-1", "replace")) for k, v in extra]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            with anyio.CancelScope(shield=True):
                await self._end(scope, status, replayed)

    async def _end(self, scope: Scope, status: int, replayed: bool) -> None:
        state = scope.get("state", {})
        admission = state.get("admission")
        if isinstance(admission, Admission):
            await self.limits.finish(admission, refund=replayed)
        meter = state.get("meter")
        if not isinstance(meter, Meter) or replayed:
            return
        spend = Spend(
            meter.project_id,
            meter.api_key_id,
            str(state.get("model") or ""),
            "http",
            requests=1,
            errors=int(status >= 400 or status == 0),
        )
        await self.usage.add(spend, time.time())


CORS_ALLOWED_HEADERS = [
    "authorization",
    "x-api-key",
    "idempotency-key",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "content-type",
    "accept",
    "last-event-id",
    "x-request-id",
    "openai-organization",
    "openai-project",
    # What the official SDKs add to every request from a browser.
    "x-stainless-arch",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
    "x-stainless-helper-method",
]
"""Request headers a browser app on an allowed origin may send."""

CORS_EXPOSED_HEADERS = [
    "x-request-id",
    "retry-after",
    "idempotent-replayed",
    "ratelimit",
    "ratelimit-policy",
    WARNING_HEADER,
    *(
        f"x-ratelimit-{part}-{name}"
        for part in ("limit", "remaining", "reset")
        for name in ("requests", "tokens")
    ),
]
"""Response headers its scripts may read."""
