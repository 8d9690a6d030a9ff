"""One file's ingestion into one vector store: parse → chunk → embed → index.

Runs as a durable job (``jobs``). The outcome is always stored on the file's row:
``completed`` with its chunk count, ``failed`` with a reason a user can act on, or
``cancelled``. A document problem (corrupt, encrypted, empty, unsupported, too big)
fails at once; anything else is retried with backoff, up to the attempt limit, and
then fails saying what went wrong the last time. Indexing replaces the file's chunks
in one transaction, so a job run twice (a retry, a takeover after a crash) leaves one
copy of every chunk.

Parsing and chunking run on worker threads; embedding runs in batches on the
embedding model's own thread, so API requests for the same model get their turn
between batches and the event loop stays free for serving.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import numpy as np

from workhorse.config import Settings
from workhorse.errors import DocumentError, UnsupportedFileType, WorkhorseError
from workhorse.jobs.queue import RetryLater
from workhorse.knowledge.chunk import (
    AUTO_MAX_TOKENS,
    AUTO_OVERLAP_TOKENS,
    Chunk,
    WordPieceCounter,
    chunk,
)
from workhorse.knowledge.index import ChunkIndex, IndexedChunk
from workhorse.knowledge.parse import parse
from workhorse.providers.registry import ModelRegistry, bundled_embedding_model_path
from workhorse.store.blobs import BlobStore
from workhorse.store.files import FileStore
from workhorse.store.vector_stores import StoreFileRecord, VectorStoreStore

log = logging.getLogger("workhorse.ingest")


class JobCancelled(Exception):
    """The file's job was cancelled (or removed) while it ran."""


@dataclass(frozen=True)
class Chunking:
    """Chunk sizes in tokens of the embedding model."""

    max_tokens: int
    overlap_tokens: int

    @classmethod
    def of(cls, strategy: dict[str, object]) -> Chunking:
        """From a stored ``chunking_strategy``."""
        static = strategy.get("static")
        if strategy.get("type") == "static" and isinstance(static, dict):
            return cls(int(static["max_chunk_size_tokens"]), int(static["chunk_overlap_tokens"]))
        return cls(AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS)


def last_error(exc: BaseException) -> dict[str, str]:
    """OpenAI's ``last_error`` for a failure: its code, and the reason in words."""
    if isinstance(exc, UnsupportedFileType):
        return {"code": "unsupported_file", "message": str(exc)}
    if isinstance(exc, DocumentError):
        return {"code": "invalid_file", "message": str(exc)}
    return {"code": "server_error", "message": str(exc)}


class Ingestor:
    """Runs ingestion jobs."""

    def __init__(
        self,
        settings: Settings,
        stores: VectorStoreStore,
        files: FileStore,
        blobs: BlobStore,
        index: ChunkIndex,
        models: ModelRegistry,
    ) -> None:
        self._settings = settings
        self._stores = stores
        self._files = files
        self._blobs = blobs
        self._index = index
        self._models = models
        self._lease = timedelta(seconds=settings.ingest_lease_s)

    @cached_property
    def _counter(self) -> WordPieceCounter:
        return WordPieceCounter(bundled_embedding_model_path() / "tokenizer.json")

    async def run(self, vector_store_id: str, file_id: str) -> None:
        """Ingest the file if its job is still to do; store how it ended."""
        job = await self._stores.claim_file(vector_store_id, file_id, self._lease)
        if job is None:
            return  # done, cancelled, removed, or held by another worker
        try:
            chunks = await self._ingest(job)
        except JobCancelled:
            await self._index.remove_file(vector_store_id, file_id)
            return
        except DocumentError as exc:
            await self._stores.finish_file(
                vector_store_id, file_id, "failed", error=last_error(exc)
            )
            return
        except Exception as exc:
            await self._retry_or_fail(job, exc)
            return
        record = await self._files.get(job.owner, file_id)
        size = record.bytes if record is not None else 0
        done = await self._stores.finish_file(
            vector_store_id, file_id, "completed", usage_bytes=size, chunks=chunks
        )
        if not done:  # cancelled or removed meanwhile: leave nothing searchable behind
            await self._index.remove_file(vector_store_id, file_id)

    async def _retry_or_fail(self, job: StoreFileRecord, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, WorkhorseError) else str(exc)
        if job.attempts >= self._settings.ingest_max_attempts:
            error = {
                "code": "server_error",
                "message": f"ingestion failed {job.attempts} times; last: {reason}",
            }
            await self._stores.finish_file(job.vector_store_id, job.file_id, "failed", error=error)
            return
        log.warning(
            "ingestion failed; it will be retried",
            extra={"vector_store_id": job.vector_store_id, "file_id": job.file_id},
            exc_info=exc,
        )
        await self._stores.release(job.vector_store_id, job.file_id)
        raise RetryLater(reason) from exc

    async def _ingest(self, job: StoreFileRecord) -> int:
        record = await self._files.get(job.owner, job.file_id)
        if record is None:
            raise DocumentError(f"file {job.file_id!r} was deleted before it could be ingested")
        path = self._blobs.path(record.sha256)
        blocks = await asyncio.to_thread(
            parse, path, record.filename, max_bytes=self._settings.ingest_max_file_bytes
        )
        sizes = Chunking.of(job.chunking)
        chunks: list[Chunk] = await asyncio.to_thread(
            chunk,
            blocks,
            self._counter,
            max_tokens=sizes.max_tokens,
            overlap_tokens=sizes.overlap_tokens,
        )
        embedder = await self._models.embedder(self._settings.embedding_model_id)
        indexed: list[IndexedChunk] = []
        batch = self._settings.embed_batch_size
        for start in range(0, len(chunks), batch):
            if not await self._stores.renew(job.vector_store_id, job.file_id, self._lease):
                raise JobCancelled
            part = chunks[start : start + batch]
            embeddings = await embedder.embed([c.text for c in part])
            vectors = np.asarray(embeddings.vectors, dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            indexed += [
                IndexedChunk(c.index, c.text, c.location, vector)
                for c, vector in zip(part, vectors, strict=True)
            ]
        if not await self._stores.renew(job.vector_store_id, job.file_id, self._lease):
            raise JobCancelled
        await self._index.replace_file(job.vector_store_id, job.file_id, indexed)
        return len(indexed)
