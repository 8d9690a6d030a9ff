"""Server-sent events that stop their producer as soon as the client goes away.

``SSEResponse`` streams ``data: ...`` events and, in parallel, waits for the client's
``http.disconnect``; whichever ends first cancels the other, and the event source is
always closed, so a model generating for a vanished client stops within a token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

DONE = "[DONE]"
"""The data of the last event of an OpenAI chat completion stream."""


@dataclass(frozen=True)
class SSEEvent:
    """One event: its payload, and optionally its name and id (for ``Last-Event-ID``)."""

    data: str
    event: str | None = None
    id: str | None = None


def sse_event(item: str | SSEEvent) -> bytes:
    """One event with a single-line ``data`` field (JSON never contains raw newlines)."""
    if isinstance(item, str):
        return f"data: {item}\n\n".encode()
    head = f"event: {item.event}\n" if item.event else ""
    if item.id is not None:
        head += f"id: {item.id}\n"
    return f"{head}data: {item.data}\n\n".encode()


class SSEResponse(Response):
    """A ``text/event-stream`` response over an async iterator of events."""

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[str | SSEEvent],
        headers: dict[str, str] | None = None,
        *,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        # Not Response.__init__: a body-less Response would announce Content-Length: 0.
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        )
        self._events = events
        # An async generator closed before its first step skips its own ``finally``;
        # ``close`` runs whatever happens (e.g. stops the generation feeding the events).
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stream(cancel: anyio.CancelScope) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for data in self._events:
                await send(
                    {"type": "http.response.body", "body": sse_event(data), "more_body": True}
                )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            cancel.cancel()

        async def watch_disconnect(cancel: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            cancel.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(stream, group.cancel_scope)
                await watch_disconnect(group.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._events, "aclose", None)
                if aclose is not None:
                    await aclose()
                if self._close is not None:
                    await self._close()


def event_schema(data: dict[str, Any], *, done_marker: bool = False) -> dict[str, Any]:
    """The OpenAPI schema of one event of a ``text/event-stream`` answer: its ``data`` is
    JSON of ``data`` (``contentMediaType`` / ``contentSchema``), or the ``[DONE]`` marker
    where the stream ends with one (``done_marker``)."""
    json_text: dict[str, Any] = {"contentMediaType": "application/json", "contentSchema": data}
    payload: dict[str, Any] = {"type": "string", **json_text}
    if done_marker:
        payload = {"type": "string", "if": {"not": {"const": DONE}}, "then": json_text}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": payload, "event": {"type": "string"}, "id": {"type": "string"}},
    }
