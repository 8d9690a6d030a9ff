"""One file's ingestion into one vector store: parse → chunk → embed → index.

Runs as a durable job (``jobs``). The outcome is always stored on the file's row:
``completed`` with its chunk count, ``failed`` with a reason a user can act on, or
``cancelled``. A document problem (corrupt, encrypted, empty, unsupported, too big)
fails at once; anything else is retried with backoff, up to the attempt limit, and
then fails saying what went wrong the last time. Indexing replaces the file's chunks
in one transaction, so a job run twice (a retry, a takeover after a crash) leaves one
copy of every chunk.

Parsing and chunking run in a parser process (``knowledge.sandbox``) under hard limits,
so a hostile document fails only itself; its chunks stream back and are embedded in
batches on the embedding model's own thread as they arrive, so API requests for the same
model get their turn between batches and the event loop stays free for serving. A job
whose earlier runs were all interrupted (the process running it died each time) ends
``failed`` instead of being tried forever.

Each batch's embeddings are the usage of the key that added the file, under its token
limits: a batch waits while a tokens-per-minute limit has no room, and a spent hard
budget fails the file saying so. Usage counts the embedding work done, so a job run
again after its process died counts the batches the first run embedded too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from workhorse.config import Settings
from workhorse.errors import BudgetExceeded, DocumentError, UnsupportedFileType, WorkhorseError
from workhorse.governance.meter import MeterFactory
from workhorse.jobs.queue import RetryLater
from workhorse.knowledge.chunk import AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS
from workhorse.knowledge.index import ChunkIndex, IndexedChunk
from workhorse.knowledge.limits import DocumentLimits, ProcessLimits
from workhorse.knowledge.sandbox import ParserPool
from workhorse.obs.metrics import JobAttempt, Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.registry import ModelRegistry, bundled_embedding_model_path
from workhorse.store.blobs import BlobStore
from workhorse.store.files import FileStore
from workhorse.store.vector_stores import FileStatus, StoreFileRecord, VectorStoreStore

log = logging.getLogger("workhorse.ingest")


class JobLost(Exception):
    """This worker no longer holds the job: cancelled, removed, or taken over."""


_PAGES = re.compile(r"^(page|slide)s? (\d+)(?:-(\d+))?$")


def pages_of(locations: Iterable[str | None]) -> int:
    """Pages (or slides) with text among chunk locations (``page 3``, ``pages 3-4``)."""
    seen: set[tuple[str, int]] = set()
    for location in locations:
        found = _PAGES.match(location or "")
        if found is not None:
            first = int(found.group(2))
            last = int(found.group(3) or first)
            seen.update((found.group(1), n) for n in range(first, last + 1))
    return len(seen)


@dataclass
class Claim:
    """A job held by this worker: the row as claimed, and the token that proves it."""

    job: StoreFileRecord
    token: str
    lost: bool = False
    attempt: JobAttempt | None = None
    """This attempt's metrics."""


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
        metrics: Metrics,
        meters: MeterFactory,
        tracing: Tracing,
    ) -> None:
        self._settings = settings
        self._tracing = tracing
        self._meters = meters
        self._metrics = metrics
        self._stores = stores
        self._files = files
        self._blobs = blobs
        self._index = index
        self._models = models
        self._lease = timedelta(seconds=settings.ingest_lease_s)
        self._parsers = ParserPool(
            ProcessLimits.of(settings),
            DocumentLimits.of(settings),
            bundled_embedding_model_path() / "tokenizer.json",
            size=settings.parse_workers,
        )

    async def warm(self) -> None:
        """Start the parser processes before the first file needs one."""
        await self._parsers.warm()

    async def aclose(self) -> None:
        """Stop the parser processes."""
        await self._parsers.aclose()

    async def _copy(self, claim: Claim) -> int | None:
        """Identical content is embedded once: a file already ingested into another store
        with the same chunking has its chunks and vectors copied."""
        job = claim.job
        source = await self._stores.embedded_elsewhere(
            job.file_id, job.chunking, job.vector_store_id
        )
        if source is None:
            return None
        chunks = await self._index.file_chunks(source[0], job.file_id)
        if not chunks or len(chunks) != source[1]:
            return None  # changing under us: compute them instead
        await self._still_held(claim)
        await self._index.replace_file(job.vector_store_id, job.file_id, chunks)
        self._metrics.ingested_chunks.labels("copied").inc(len(chunks))
        return len(chunks)

    async def run(self, vector_store_id: str, file_id: str) -> None:
        """Ingest the file if its job is still to do; store how it ended."""
        claimed = await self._stores.claim_file(vector_store_id, file_id, self._lease)
        if claimed is None:
            return  # done, cancelled, removed, or held by another worker
        record, token, taken_over = claimed
        claim = Claim(record, token)
        if taken_over:
            self._metrics.jobs_taken_over.labels("ingestion").inc()
        if claim.job.attempts > self._settings.ingest_max_attempts:
            await self._interrupted_too_often(claim)
            return
        heartbeat = asyncio.create_task(self._heartbeat(claim), name=f"lease-{file_id}")
        span = self._tracing.job_span(
            "ingest file",
            claim.job.traceparent,
            **{"workhorse.vector_store_id": vector_store_id, "workhorse.file_id": file_id},
        )
        with span, self._metrics.job("ingestion") as attempt:
            claim.attempt = attempt
            try:
                await self._run(claim)
            finally:
                heartbeat.cancel()

    async def _interrupted_too_often(self, claim: Claim) -> None:
        """Every earlier run of this job ended with its process (a crash, a kill, a
        restart): it is not started again, so no file can stop a server in a loop."""
        runs = claim.job.attempts - 1
        times = "once" if runs == 1 else f"{runs} times"
        error = {
            "code": "server_error",
            "message": f"ingestion was interrupted {times} (the process running it stopped"
            " each time); it is not tried again",
        }
        log.warning(
            "ingestion interrupted too often; failing it",
            extra={"vector_store_id": claim.job.vector_store_id, "file_id": claim.job.file_id},
        )
        await self._end(claim, "failed", error=error)

    async def _heartbeat(self, claim: Claim) -> None:
        # Parsing a big file runs for a while in a parser process: the lease must outlive it.
        job = claim.job
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            if not await self._stores.renew(
                job.vector_store_id, job.file_id, claim.token, self._lease
            ):
                claim.lost = True
                return

    async def _still_held(self, claim: Claim) -> None:
        job = claim.job
        held = not claim.lost and await self._stores.renew(
            job.vector_store_id, job.file_id, claim.token, self._lease
        )
        if not held:
            raise JobLost

    async def _run(self, claim: Claim) -> None:
        job = claim.job
        store_id, file_id = job.vector_store_id, job.file_id
        try:
            chunks = await self._ingest(claim)
        except JobLost:
            await self._after_losing(store_id, file_id)
            return
        except DocumentError as exc:
            await self._end(claim, "failed", error=last_error(exc))
            return
        except BudgetExceeded as exc:  # not retried: the budget renews in days, not seconds
            await self._end(claim, "failed", error={"code": "server_error", "message": str(exc)})
            return
        except Exception as exc:
            await self._retry_or_fail(claim, exc)
            return
        record = await self._files.get(job.owner, file_id)
        size = record.bytes if record is not None else 0
        if not await self._end(claim, "completed", usage_bytes=size, chunks=chunks):
            await self._after_losing(store_id, file_id)

    async def _end(self, claim: Claim, status: FileStatus, **fields: Any) -> bool:
        job = claim.job
        ended = await self._stores.finish_file(
            job.vector_store_id, job.file_id, claim.token, status, **fields
        )
        if ended:
            self._metrics.ingested_files.labels(status).inc()
            error = fields.get("error")
            reason = error.get("code") if isinstance(error, dict) else None
            if claim.attempt is not None:
                claim.attempt.ended(status, reason)
            if status == "completed":
                self._metrics.ingested_bytes.inc(fields.get("usage_bytes", 0))
        return ended

    async def _after_losing(self, store_id: str, file_id: str) -> None:
        """The job ended without this worker: if the file was cancelled or taken out of
        the store, leave none of its chunks searchable; if another worker finished it,
        its chunks are that worker's and stay."""
        if await self._stores.status_of(store_id, file_id) in (None, "cancelled"):
            await self._index.remove_file(store_id, file_id)
            self._metrics.ingested_files.labels("cancelled").inc()

    async def _retry_or_fail(self, claim: Claim, exc: Exception) -> None:
        job = claim.job
        reason = str(exc) if isinstance(exc, WorkhorseError) else f"{type(exc).__name__}: {exc}"
        if job.attempts >= self._settings.ingest_max_attempts:
            error = {
                "code": "server_error",
                "message": f"ingestion failed {job.attempts} times; last: {reason}",
            }
            await self._end(claim, "failed", error=error)
            return
        log.warning(
            "ingestion failed; it will be retried",
            extra={"vector_store_id": job.vector_store_id, "file_id": job.file_id},
            exc_info=exc,
        )
        await self._stores.release(job.vector_store_id, job.file_id, claim.token)
        if claim.attempt is not None:
            claim.attempt.ended("retried")
        raise RetryLater(reason) from exc

    async def _ingest(self, claim: Claim) -> int:
        job = claim.job
        record = await self._files.get(job.owner, job.file_id)
        if record is None:
            raise DocumentError(f"file {job.file_id!r} was deleted before it could be ingested")
        copied = await self._copy(claim)
        if copied is not None:
            return copied
        sizes = Chunking.of(job.chunking)
        embedder = await self._models.embedder(self._settings.embedding_model_id)
        meter = None if job.api_key_id is None else await self._meters(job.owner, job.api_key_id)
        indexed: list[IndexedChunk] = []
        batches = self._parsers.chunks(
            self._blobs.path(record.sha256),
            record.filename,
            max_tokens=sizes.max_tokens,
            overlap_tokens=sizes.overlap_tokens,
            batch=self._settings.embed_batch_size,
        )
        async with aclosing(batches):
            async for part in batches:
                await self._still_held(claim)
                texts = [c.text for c in part]
                embeddings = await (
                    embedder.embed(texts)
                    if meter is None
                    else meter.embed_accepted(embedder, texts)
                )
                vectors = np.asarray(embeddings.vectors, dtype=np.float32)
                vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
                indexed += [
                    IndexedChunk(c.index, c.text, c.location, vector)
                    for c, vector in zip(part, vectors, strict=True)
                ]
        await self._still_held(claim)
        await self._index.replace_file(job.vector_store_id, job.file_id, indexed)
        self._metrics.ingested_chunks.labels("embedded").inc(len(indexed))
        self._metrics.ingested_pages.inc(pages_of(c.location for c in indexed))
        return len(indexed)
