"""The retry policy of ingestion jobs, and huey's backoff, on a real SQLite store.

The index here fails on purpose (a fake at the edge: what is tested is how a failing
job is retried and how it ends, not the index); everything else is real: the stores,
the blob, the bundled embedding model, the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

import pytest
from huey import SqliteHuey

from workhorse.config import Settings
from workhorse.governance.meter import Governor, Meter
from workhorse.jobs.queue import Jobs, RetryLater
from workhorse.knowledge.index import ChunkIndex, Hit, IndexedChunk, Vector, open_index
from workhorse.knowledge.ingest import Ingestor
from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.registry import BUNDLED_EMBEDDING_DIMENSIONS, ModelRegistry
from workhorse.store.blobs import BlobStore
from workhorse.store.db import migrate, open_database
from workhorse.store.files import FileStore
from workhorse.store.limits import LimitStore
from workhorse.store.usage import UsageStore
from workhorse.store.vector_stores import VectorStoreStore


class FlakyIndex:
    """A real index whose ``replace_file`` fails the first ``failures`` times."""

    def __init__(self, inner: ChunkIndex, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def replace_file(self, store: str, file: str, chunks: list[IndexedChunk]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("disk unavailable")
        await self.inner.replace_file(store, file, chunks)

    async def remove_file(self, store: str, file: str) -> None:
        await self.inner.remove_file(store, file)

    async def remove_store(self, store: str) -> None:
        await self.inner.remove_store(store)

    async def count(self, store: str, file: str | None = None) -> int:
        return await self.inner.count(store, file)

    async def search(
        self,
        stores: list[str],
        query: str,
        vector: Vector,
        *,
        limit: int,
        file_ids: set[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        return await self.inner.search(
            stores, query, vector, limit=limit, file_ids=file_ids, score_threshold=score_threshold
        )

    async def file_chunks(self, store: str, file: str) -> list[IndexedChunk]:
        return await self.inner.file_chunks(store, file)

    async def aclose(self) -> None:
        await self.inner.aclose()


class World:
    """Stores, a file in a vector store, and an ingestor over a flaky index."""

    def __init__(self, tmp: Path, failures: int) -> None:
        self.settings = Settings(
            data_dir=tmp, ingest_max_attempts=3, load_bundled_models=True, chat_n_threads=1
        )
        url = self.settings.resolved_database_url()
        migrate(url)
        self.db = open_database(url)
        self.stores = VectorStoreStore(self.db)
        self.files = FileStore(self.db)
        self.blobs = BlobStore(tmp / "blobs")
        self.index = FlakyIndex(open_index(self.db, tmp, BUNDLED_EMBEDDING_DIMENSIONS), failures)
        self.models = ModelRegistry(self.settings, chat=False)
        governor = Governor(LimitStore(self.db), UsageStore(self.db))

        async def meters(project_id: str, key_id: str) -> Meter:
            return Meter(governor, project_id, key_id)

        self.ingestor = Ingestor(
            self.settings,
            self.stores,
            self.files,
            self.blobs,
            self.index,
            self.models,
            Metrics(),
            meters,
            Tracing({}),
        )

    async def add_file(self) -> tuple[str, str]:
        content = b"Kettles whistle when the water boils.\n"
        digest = hashlib.sha256(content).hexdigest()
        staged = self.settings.data_dir / "staged"
        staged.write_bytes(content)
        self.blobs.adopt(staged, digest)
        record, _ = await self.files.create("key_a", "assistants", "k.txt", len(content), digest)
        store = await self.stores.create(
            "key_a", name=None, metadata={}, chunking={"type": "auto"}, expires_after_days=None
        )
        await self.stores.add_files(
            "key_a", store.id, [(record.id, {})], chunking={"type": "auto"}, api_key_id="key_a"
        )
        return store.id, record.id


def test_a_transient_failure_is_retried_then_completes(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path, failures=1)
        world.models.start_loading()
        try:
            store_id, file_id = await world.add_file()
            with pytest.raises(RetryLater, match="disk unavailable"):
                await world.ingestor.run(store_id, file_id)
            state = await world.stores.get_file("key_a", store_id, file_id)
            assert (state.status, state.attempts) == ("in_progress", 1)
            await world.ingestor.run(store_id, file_id)  # the retry huey schedules
            state = await world.stores.get_file("key_a", store_id, file_id)
            assert (state.status, state.attempts, state.chunks) == ("completed", 2, 1)
            assert await world.index.count(store_id, file_id) == 1
        finally:
            await world.models.aclose()
            await world.db.dispose()

    asyncio.run(scenario())


def test_a_file_that_keeps_failing_ends_failed_with_the_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path, failures=10)
        world.models.start_loading()
        try:
            store_id, file_id = await world.add_file()
            for _ in range(2):
                with pytest.raises(RetryLater):
                    await world.ingestor.run(store_id, file_id)
            await world.ingestor.run(store_id, file_id)  # the last attempt ends it
            state = await world.stores.get_file("key_a", store_id, file_id)
            assert state.status == "failed"
            assert state.last_error == {
                "code": "server_error",
                "message": "ingestion failed 3 times; last: OSError: disk unavailable",
            }
            await world.ingestor.run(store_id, file_id)  # a late duplicate does nothing
            assert (await world.stores.get_file("key_a", store_id, file_id)).attempts == 3
        finally:
            await world.models.aclose()
            await world.db.dispose()

    asyncio.run(scenario())


def test_huey_runs_a_job_again_after_retry_later_with_backoff(tmp_path: Path) -> None:
    calls: list[float] = []
    done = threading.Event()

    async def handler(store_id: str, file_id: str) -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise RetryLater("not yet")
        done.set()

    async def scenario() -> None:
        huey = SqliteHuey(name="t", filename=str(tmp_path / "q.db"), results=False, utc=True)
        jobs = Jobs(huey, workers=1, max_attempts=3)
        jobs.on_ingest(handler)
        jobs.start(asyncio.get_running_loop())
        try:
            await jobs.enqueue_ingest("vs_1", "file-1")
            assert await asyncio.to_thread(done.wait, 30)
        finally:
            await asyncio.to_thread(jobs.stop)
        assert len(calls) == 2
        assert calls[1] - calls[0] >= 0.9  # retry_delay 1 s, doubling after

    asyncio.run(scenario())


def test_pages_are_counted_once_from_chunk_locations() -> None:
    from workhorse.knowledge.ingest import pages_of

    locations = ["page 1", "pages 1-3", "page 5", "slide 2", None, "$.data[0]", "lines 1-40"]
    assert pages_of(locations) == 5  # pages 1, 2, 3, 5 and slide 2
