"""A live response's event log: events are stored before anyone may read them.

The generating task adds events; a flusher task writes whatever has accumulated in one
transaction (group commit: a fast model shares a commit among several tokens) and only
then publishes them to readers in this process. Readers elsewhere read the same rows.
So a client that saw event N can resume after N from any replica, even after this
process dies: nothing it saw is missing from the store, and nothing is regenerated.

The flusher also renews the response's lease (at least every ``heartbeat_s``) and learns
in the same statement whether a cancel was requested from any replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from workhorse.store.responses import Completion, Json, LeaseLost, ResponseStore

log = logging.getLogger("workhorse.responses")


class EventLog:
    """The stored, published events of one response generating in this process."""

    def __init__(
        self,
        store: ResponseStore,
        response_id: str,
        first_seq: int,
        *,
        publish: bool,
        heartbeat_s: float,
        on_cancel: Callable[[], None],
        on_lease_lost: Callable[[], None],
    ) -> None:
        self._store = store
        self.response_id = response_id
        self.first_seq = first_seq
        self._publish = publish
        self._heartbeat_s = heartbeat_s
        self._on_cancel = on_cancel
        self._on_lease_lost = on_lease_lost
        self._queued: list[Json] = []
        self.published: list[Json] = []
        """Events stored and readable, from ``first_seq`` on."""
        self._wake = asyncio.Event()
        self.changed = asyncio.Event()
        """Set (and replaced) whenever events are published or the log closes."""
        self.closed = False
        self._stopping = False
        self._lock = asyncio.Lock()
        self._flusher = asyncio.create_task(self._flush_forever(), name=f"log-{response_id}")

    @property
    def next_seq(self) -> int:
        """The sequence number the next stored event gets."""
        return self.first_seq + len(self.published)

    def add(self, events: list[Json]) -> None:
        """Queue events for storing (stored at once when publishing, else at the end)."""
        self._queued.extend(events)
        if self._publish and events:
            self._wake.set()

    def since(self, seq: int) -> list[Json]:
        """Published events with a sequence number from ``seq`` on."""
        return self.published[max(seq - self.first_seq, 0) :]

    def _announce(self, events: list[Json]) -> None:
        self.published.extend(events)
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def _flush_forever(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._heartbeat_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self._flush()
            except LeaseLost:
                self._on_lease_lost()
                return
            except (SQLAlchemyError, OSError) as exc:
                # Kept queued; the next round retries. The lease outlives a few misses.
                log.warning("could not store response events", exc_info=exc)

    async def _flush(self) -> None:
        async with self._lock:
            if self.closed:
                return
            batch = list(self._queued) if self._publish else []
            cancel = await self._store.append(self.response_id, self.next_seq, batch)
            if batch:
                del self._queued[: len(batch)]
                self._announce(batch)
        if cancel:
            self._on_cancel()

    async def set_status(self, status: str) -> None:
        """Store queued events and the response's new status now."""
        async with self._lock:
            batch = list(self._queued)
            await self._store.append(self.response_id, self.next_seq, batch, status=status)
            del self._queued[: len(batch)]
            self._announce(batch)

    async def _stop_flusher(self) -> None:
        # Never cancelled mid-write: a write finishes in its thread whatever its caller does,
        # and the log would no longer know what is stored.
        self._stopping = True
        self._wake.set()
        await self._flusher

    async def finish(self, completion: Completion) -> None:
        """Store the remaining events with the final state, publish, and close."""
        await self._stop_flusher()
        async with self._lock:
            batch, self._queued = self._queued, []
            stored: list[Json] = []
            try:
                await self._store.finish(self.response_id, self.next_seq, batch, completion)
                stored = batch
            finally:
                self.closed = True
                self._announce(stored)

    async def abandon(self) -> None:
        """Stop writing without finishing (the lease runs out; another process takes over)."""
        await self._stop_flusher()
        async with self._lock:
            self.closed = True
            self._announce([])
