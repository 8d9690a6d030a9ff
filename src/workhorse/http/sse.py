"""Server-sent events that stop their producer as soon as the client goes away.

``SSEResponse`` streams ``data: ...`` events and, in parallel, waits for the client's
``http.disconnect``; whichever ends first cancels the other, and the event source is
always closed, so a model generating for a vanished client stops within a token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


def sse_event(data: str) -> bytes:
    """One event with a single-line ``data`` field (JSON never contains raw newlines)."""
    return f"data: {data}\n\n".encode()


class SSEResponse(Response):
    """A ``text/event-stream`` response over an async iterator of event payloads."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[str], headers: dict[str, str] | None = None) -> None:
        # Not Response.__init__: a body-less Response would announce Content-Length: 0.
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        )
        self._events = events

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
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
