"""The durable job queue: huey, on SQLite in the data dir or on Redis.

huey keeps queued jobs across restarts in either storage and runs them on worker
threads, with retries and exponential backoff. What huey cannot know (a job taken off
the queue by a process that then died) the job's own database row covers: every job is
also a row with a lease, and a sweeper queues again the jobs whose worker vanished
(see ``store.vector_stores``).

Job handlers are coroutines that run on the event loop of the process (the server's, or
``workhorse worker``'s); huey's worker threads only hand them over and wait, so a job
uses the same database engines and models as the rest of the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer
from huey.exceptions import RetryTask

from workhorse.config import Settings
from workhorse.errors import WorkhorseError

log = logging.getLogger("workhorse.jobs")

IngestHandler = Callable[[str, str], Coroutine[Any, Any, None]]
TrainHandler = Callable[[str], Coroutine[Any, Any, None]]
EvalHandler = Callable[[str], Coroutine[Any, Any, None]]


class QueueConfigError(WorkhorseError):
    """``WORKHORSE_QUEUE_URL`` names a queue this build cannot use."""


class RetryLater(Exception):
    """Raised by a job handler: run the job again after a backoff."""


def open_huey(settings: Settings, suffix: str = "") -> Huey:
    """The queue named by the settings (SQLite in the data dir by default); ``suffix``
    names a second queue beside it."""
    url = settings.queue_url
    name = settings.queue_name + suffix
    if not url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = Path(settings.data_dir) / "queue.db"
        return SqliteHuey(name=name, filename=str(path), results=False, utc=True)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name=name, url=url, results=False, utc=True)
    raise QueueConfigError(
        f"unsupported queue URL scheme in {url.split(':', 1)[0]!r}; use redis://"
    )


def _hand_over(loop: asyncio.AbstractEventLoop | None, job: Coroutine[Any, Any, None]) -> None:
    """On a huey worker thread: hand the job to the event loop and wait for it."""
    if loop is None:
        job.close()
        raise RetryTask("no event loop to run the job on yet", delay=1)
    try:
        asyncio.run_coroutine_threadsafe(job, loop).result()
    except RetryLater as exc:
        raise RetryTask(str(exc)) from exc


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]  # huey is untyped
    """huey's consumer without its signal handlers: the host process owns the signals."""

    def _set_signal_handlers(self) -> None:
        pass


class Jobs:
    """Enqueues jobs and, when started, runs them on huey worker threads."""

    def __init__(
        self, huey: Huey, *, workers: int, max_attempts: int, train_attempts: int = 3
    ) -> None:
        self.huey = huey
        self._workers = workers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None
        self._ingest_handler: IngestHandler | None = None
        self._ingest_task: Any = huey.task(
            name="ingest_file", retries=max_attempts, retry_delay=1, retry_backoff=2
        )(self._run_ingest)
        self._train_handler: TrainHandler | None = None
        self._train_task: Any = huey.task(
            name="fine_tune", retries=train_attempts, retry_delay=1, retry_backoff=2
        )(self._run_train)

    def on_ingest(self, handler: IngestHandler) -> None:
        """The coroutine that ingests ``(vector_store_id, file_id)``."""
        self._ingest_handler = handler

    async def enqueue_ingest(self, vector_store_id: str, file_id: str) -> None:
        """Queue the ingestion of one file (durable once this returns)."""
        await asyncio.to_thread(self._ingest_task, vector_store_id, file_id)

    def on_train(self, handler: TrainHandler) -> None:
        """The coroutine that runs the fine-tuning job ``job_id``."""
        self._train_handler = handler

    async def enqueue_train(self, job_id: str) -> None:
        """Queue a fine-tuning job (durable once this returns)."""
        await asyncio.to_thread(self._train_task, job_id)

    def _run_ingest(self, vector_store_id: str, file_id: str) -> None:
        if self._ingest_handler is None:
            raise RetryTask("this process does not ingest yet", delay=1)
        self._run(self._ingest_handler(vector_store_id, file_id))

    def _run_train(self, job_id: str) -> None:
        if self._train_handler is None:
            raise RetryTask("this process does not train yet", delay=1)
        self._run(self._train_handler(job_id))

    def _run(self, job: Coroutine[Any, Any, None]) -> None:
        _hand_over(self._loop, job)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run jobs on ``workers`` threads, their handlers on ``loop``."""
        self._loop = loop
        if self._workers == 0:
            return
        self._consumer = _EmbeddedConsumer(
            self.huey, workers=self._workers, worker_type="thread", periodic=False
        )
        self._consumer.start()

    def stop(self) -> None:
        """Stop taking jobs; a running one is left to its lease (it runs again elsewhere)."""
        if self._consumer is not None:
            self._consumer.stop(graceful=False)
            self._consumer = None


class EvalQueue:
    """Eval runs, on a queue of their own (``<queue name>-evals``): they need the chat
    models, so only the processes that serve them (``workhorse serve``) take these."""

    def __init__(self, huey: Huey, *, workers: int) -> None:
        self.huey = huey
        self._workers = workers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None
        self._handler: EvalHandler | None = None
        self._task: Any = huey.task(name="eval_run", retries=3, retry_delay=1, retry_backoff=2)(
            self._run
        )

    def on_run(self, handler: EvalHandler) -> None:
        """The coroutine that runs the eval run ``run_id``."""
        self._handler = handler

    async def enqueue(self, run_id: str) -> None:
        """Queue an eval run (durable once this returns)."""
        await asyncio.to_thread(self._task, run_id)

    def _run(self, run_id: str) -> None:
        if self._handler is None:
            raise RetryTask("this process does not run evals yet", delay=1)
        _hand_over(self._loop, self._handler(run_id))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run eval runs on ``workers`` threads, their handlers on ``loop``."""
        self._loop = loop
        if self._workers == 0:
            return
        self._consumer = _EmbeddedConsumer(
            self.huey, workers=self._workers, worker_type="thread", periodic=False
        )
        self._consumer.start()

    def stop(self) -> None:
        """Stop taking runs; a running one is left to its lease (it runs again elsewhere)."""
        if self._consumer is not None:
            self._consumer.stop(graceful=False)
            self._consumer = None
