"""Carry a generation from a model's worker thread to the event loop.

The worker thread calls ``emit`` for each event; the event loop iterates the
``ThreadedGeneration``. Closing it (for example when the client disconnects) sets
``cancelled``, which the worker checks between tokens, and drops the job if it is
still waiting for the model.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future

from workhorse.providers.base import Finish, GenerationEvent


class _Started:
    """Marker: the job was validated and is generating."""


class _Closed:
    """Marker: the generation was closed; wakes a reader waiting for the next event."""


STARTED = _Started()
_CLOSED = _Closed()
_Item = GenerationEvent | BaseException | _Started | _Closed


class ThreadedGeneration:
    """An async view of events emitted by a job running on another thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._future: Future[None] | None = None
        self.cancelled = threading.Event()
        self._done = False
        # Written by the worker thread, read by the loop: plain ints, counts so far.
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def attach(self, future: Future[None]) -> None:
        """The job producing this generation's events."""
        self._future = future

    def emit(self, item: _Item) -> None:
        """Thread side: hand one item to the event loop."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancelled.set()

    async def wait_started(self) -> None:
        """Return once the job is generating; raise what it raised before that."""
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            await self.aclose()
            raise
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not isinstance(item, _Started):  # pragma: no cover - protocol violation
            raise RuntimeError("generation emitted an event before starting")

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        try:
            while not self._done:
                item = await self._queue.get()
                if isinstance(item, BaseException):
                    self._done = True
                    raise item
                if isinstance(item, _Started):
                    continue
                if isinstance(item, _Closed):
                    return
                if isinstance(item, Finish):
                    self._done = True
                yield item
        finally:
            if not self._done:
                await self.aclose()

    async def aclose(self) -> None:
        """Stop the job: drop it if waiting, or make it stop at the next token."""
        self.cancelled.set()
        if not self._done:
            self._done = True
            self._queue.put_nowait(_CLOSED)
        if self._future is not None:
            self._future.cancel()
