"""One thread per model instance, one job at a time, and a bounded line of waiters.

llama.cpp and torch models are not safe to call from two threads at once, and running
them on the event loop would stall every other request. Each model instance owns a
``SerialRunner``: jobs run in arrival order on its thread; when ``queue_size`` jobs are
already waiting, the next one is refused with 429 and ``Retry-After``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from workhorse.errors import RateLimited

T = TypeVar("T")


class SerialRunner:
    """Runs callables one at a time on a dedicated thread, with bounded waiting."""

    def __init__(
        self,
        name: str,
        *,
        queue_size: int,
        retry_after_s: int,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self._on_wait = on_wait
        self._queue_size = queue_size
        self._retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")
        self._lock = threading.Lock()
        self._in_system = 0  # running + waiting

    @property
    def load(self) -> int:
        """Jobs running or waiting."""
        with self._lock:
            return self._in_system

    def occupancy(self) -> tuple[int, int]:
        """Jobs running (0 or 1) and waiting."""
        load = self.load
        return min(load, 1), max(load - 1, 0)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn``; raise RateLimited when the line is full."""
        with self._lock:
            if self._in_system > self._queue_size:
                raise RateLimited(
                    f"model {self.name!r} is busy: {self._in_system - 1} requests are "
                    "already waiting; retry later",
                    headers={"Retry-After": str(self._retry_after_s)},
                )
            self._in_system += 1
        future = self._executor.submit(self._timed(fn) if self._on_wait else fn)
        future.add_done_callback(self._leave)
        return future

    def _timed(self, fn: Callable[[], T]) -> Callable[[], T]:
        queued = time.perf_counter()
        on_wait = self._on_wait

        def run() -> T:
            if on_wait is not None:
                on_wait(time.perf_counter() - queued)
            return fn()

        return run

    def _leave(self, _future: Future[T]) -> None:
        with self._lock:
            self._in_system -= 1

    def shutdown(self) -> None:
        """Drop waiting jobs and wait for the running one to finish."""
        self._executor.shutdown(wait=True, cancel_futures=True)
