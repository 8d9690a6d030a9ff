"""Vector stores: stores, their files and batches, ingestion jobs, and search."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from workhorse.api.vector_stores.schemas import (
    ChunkingStrategy,
    ExpiresAfter,
    FileBatchCreateRequest,
    FileBatchObject,
    FileCountsOut,
    FileListQuery,
    LastError,
    ListQuery,
    SearchContent,
    SearchRequest,
    SearchResult,
    SearchResultsPage,
    VectorStoreCreateRequest,
    VectorStoreFileCreateRequest,
    VectorStoreFileList,
    VectorStoreFileObject,
    VectorStoreList,
    VectorStoreObject,
    VectorStoreUpdateRequest,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest, NotFound
from workhorse.governance.meter import Meter
from workhorse.knowledge.filters import matches
from workhorse.store.vector_stores import (
    BatchRecord,
    FileCounts,
    StoreFileRecord,
    VectorStoreRecord,
)

AUTO = {"type": "auto"}


def _chunking(strategy: ChunkingStrategy | None, default: dict[str, Any]) -> dict[str, Any]:
    return strategy.model_dump(exclude_none=True) if strategy is not None else default


def _counts(counts: FileCounts) -> FileCountsOut:
    return FileCountsOut(
        in_progress=counts.in_progress,
        completed=counts.completed,
        failed=counts.failed,
        cancelled=counts.cancelled,
        total=counts.total,
    )


def _wire_chunking(strategy: dict[str, Any]) -> dict[str, Any]:
    if strategy.get("type") == "static":
        return strategy
    # What "auto" means here, as OpenAI reports it for files.
    return {"type": "static", "static": {"max_chunk_size_tokens": 256, "chunk_overlap_tokens": 64}}


async def _object(container: Container, record: VectorStoreRecord) -> VectorStoreObject:
    counts, usage = (await container.vector_stores.counts([record.id]))[record.id]
    return _to_object(record, counts, usage)


def _to_object(record: VectorStoreRecord, counts: FileCounts, usage: int) -> VectorStoreObject:
    expires_at = record.expires_at
    expired = expires_at is not None and expires_at.timestamp() < time.time()
    status = "expired" if expired else "in_progress" if counts.in_progress else "completed"
    return VectorStoreObject(
        id=record.id,
        created_at=int(record.created_at.timestamp()),
        name=record.name,
        usage_bytes=usage,
        file_counts=_counts(counts),
        status=status,
        expires_after=ExpiresAfter(anchor="last_active_at", days=record.expires_after_days)
        if record.expires_after_days
        else None,
        expires_at=int(expires_at.timestamp()) if expires_at else None,
        last_active_at=int(record.last_active_at.timestamp()),
        metadata=record.metadata,
    )


def file_object(record: StoreFileRecord) -> VectorStoreFileObject:
    """The wire shape of a store's file."""
    return VectorStoreFileObject(
        id=record.file_id,
        usage_bytes=record.usage_bytes,
        created_at=int(record.created_at.timestamp()),
        vector_store_id=record.vector_store_id,
        status=record.status,
        last_error=LastError.model_validate(record.last_error) if record.last_error else None,
        chunking_strategy=_wire_chunking(record.chunking),
        attributes=record.attributes,
    )


async def _known_files(
    container: Container, owner: str, file_ids: list[str], param: str, *, listed: bool = True
) -> None:
    for i, file_id in enumerate(file_ids):
        if await container.files.get(owner, file_id) is None:
            where = f"{param}[{i}]" if listed else param
            raise NotFound(f"No file found with id {file_id!r}.", param=where)


async def _queue(container: Container, store_id: str, file_ids: list[str]) -> None:
    for file_id in file_ids:
        await container.jobs.enqueue_ingest(store_id, file_id)


async def create(
    container: Container, caller: Meter, body: VectorStoreCreateRequest
) -> VectorStoreObject:
    """A new store of the caller's project; its files are queued for ingestion, which is
    the caller's usage."""
    owner = caller.project_id
    await _known_files(container, owner, body.file_ids, "file_ids")
    chunking = _chunking(body.chunking_strategy, AUTO)
    record = await container.vector_stores.create(
        owner,
        name=body.name,
        metadata=body.metadata or {},
        chunking=chunking,
        expires_after_days=body.expires_after.days if body.expires_after else None,
    )
    if body.file_ids:
        _, queued = await container.vector_stores.add_files(
            owner,
            record.id,
            [(f, {}) for f in body.file_ids],
            chunking=chunking,
            api_key_id=caller.api_key_id,
        )
        await _queue(container, record.id, queued)
    return await _object(container, record)


async def retrieve(container: Container, owner: str, store_id: str) -> VectorStoreObject:
    """One store with its file counts."""
    return await _object(container, await container.vector_stores.get(owner, store_id))


async def update(
    container: Container, owner: str, store_id: str, body: VectorStoreUpdateRequest
) -> VectorStoreObject:
    """Rename, change metadata or expiry."""
    changes: dict[str, Any] = {}
    if "name" in body.model_fields_set:
        changes["name"] = body.name
    if "metadata" in body.model_fields_set:
        changes["metadata"] = body.metadata
    if "expires_after" in body.model_fields_set:
        changes["expires_after_days"] = body.expires_after.days if body.expires_after else None
    return await _object(container, await container.vector_stores.update(owner, store_id, changes))


async def list_stores(container: Container, owner: str, query: ListQuery) -> VectorStoreList:
    """A page of the caller's stores."""
    records, more = await container.vector_stores.page(
        owner, limit=query.limit, after=query.after, order=query.order
    )
    counts = await container.vector_stores.counts([r.id for r in records])
    data = [_to_object(r, *counts[r.id]) for r in records]
    return VectorStoreList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def delete(container: Container, owner: str, store_id: str) -> None:
    """Delete the store and its chunks (the files themselves stay)."""
    await container.vector_stores.delete(owner, store_id)
    await container.index.remove_store(store_id)


async def add_file(
    container: Container, caller: Meter, store_id: str, body: VectorStoreFileCreateRequest
) -> VectorStoreFileObject:
    """Add one file; its ingestion is queued (an existing one is returned as it is)."""
    owner = caller.project_id
    store = await container.vector_stores.get(owner, store_id)
    await _known_files(container, owner, [body.file_id], "file_id", listed=False)
    rows, queued = await container.vector_stores.add_files(
        owner,
        store_id,
        [(body.file_id, body.attributes or {})],
        chunking=_chunking(body.chunking_strategy, store.chunking),
        api_key_id=caller.api_key_id,
    )
    await _queue(container, store_id, queued)
    return file_object(rows[0])


async def get_file(
    container: Container, owner: str, store_id: str, file_id: str
) -> VectorStoreFileObject:
    """One file of the store, with its status and last error."""
    return file_object(await container.vector_stores.get_file(owner, store_id, file_id))


async def list_files(
    container: Container,
    owner: str,
    store_id: str,
    query: FileListQuery,
    batch_id: str | None = None,
) -> VectorStoreFileList:
    """A page of the store's (or batch's) files."""
    records, more = await container.vector_stores.list_files(
        owner,
        store_id,
        limit=query.limit,
        after=query.after,
        order=query.order,
        status=query.filter,
        batch_id=batch_id,
    )
    data = [file_object(r) for r in records]
    return VectorStoreFileList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def set_attributes(
    container: Container, owner: str, store_id: str, file_id: str, attributes: dict[str, Any]
) -> VectorStoreFileObject:
    """Replace a file's attributes (used by search filters)."""
    return file_object(
        await container.vector_stores.set_attributes(owner, store_id, file_id, attributes)
    )


async def remove_file(container: Container, owner: str, store_id: str, file_id: str) -> None:
    """Take the file out of the store, with its chunks."""
    await container.vector_stores.remove_file(owner, store_id, file_id)
    await container.index.remove_file(store_id, file_id)


async def _batch_object(container: Container, batch: BatchRecord) -> FileBatchObject:
    counts = await container.vector_stores.batch_counts(batch.id)
    status = (
        "cancelled" if batch.cancelled else "in_progress" if counts.in_progress else "completed"
    )
    return FileBatchObject(
        id=batch.id,
        created_at=int(batch.created_at.timestamp()),
        vector_store_id=batch.vector_store_id,
        status=status,
        file_counts=_counts(counts),
    )


async def create_batch(
    container: Container, caller: Meter, store_id: str, body: FileBatchCreateRequest
) -> FileBatchObject:
    """Add files together; follow and cancel them as one batch."""
    owner = caller.project_id
    store = await container.vector_stores.get(owner, store_id)
    default = _chunking(body.chunking_strategy, store.chunking)
    if body.file_ids:
        files = [(f, body.attributes or {}) for f in body.file_ids]
        await _known_files(container, owner, body.file_ids, "file_ids")
        chunkings = {f: default for f in body.file_ids}
    else:
        files = [(f.file_id, f.attributes or {}) for f in body.files]
        await _known_files(container, owner, [f.file_id for f in body.files], "files")
        chunkings = {f.file_id: _chunking(f.chunking_strategy, default) for f in body.files}
    if len({f for f, _ in files}) != len(files):
        raise InvalidRequest("a batch lists each file once", param="file_ids")
    batch_id = "vsfb_" + secrets.token_hex(16)
    queued: list[str] = []
    # Files with their own chunking are added one call each; the batch row comes first.
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for file_id, attributes in files:
        groups.setdefault(repr(sorted(chunkings[file_id].items())), []).append(
            (file_id, attributes)
        )
    first = True
    for members in groups.values():
        chunking = chunkings[members[0][0]]
        _, added = await container.vector_stores.add_files(
            owner,
            store_id,
            members,
            chunking=chunking,
            api_key_id=caller.api_key_id,
            batch_id=batch_id,
            new_batch=first,
        )
        first = False
        queued += added
    await _queue(container, store_id, queued)
    return await _batch_object(
        container, await container.vector_stores.get_batch(owner, store_id, batch_id)
    )


async def get_batch(
    container: Container, owner: str, store_id: str, batch_id: str
) -> FileBatchObject:
    """A batch and its file counts."""
    return await _batch_object(
        container, await container.vector_stores.get_batch(owner, store_id, batch_id)
    )


async def cancel_batch(
    container: Container, owner: str, store_id: str, batch_id: str
) -> FileBatchObject:
    """Cancel the batch's files that are not done yet."""
    batch = await container.vector_stores.cancel_batch(owner, store_id, batch_id)
    return await _batch_object(container, batch)


@dataclass(frozen=True)
class Retrieved:
    """A chunk found for a query."""

    vector_store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    location: str | None
    attributes: dict[str, Any]


async def retrieve_chunks(
    container: Container,
    meter: Meter,
    store_ids: list[str],
    query: str,
    *,
    limit: int,
    filters: dict[str, Any] | None = None,
    score_threshold: float | None = None,
) -> list[Retrieved]:
    """The best chunks of the meter's project's stores for ``query`` (hybrid: vectors
    and words); embedding the query is the meter's (its token limits and usage)."""
    owner = meter.project_id
    for store_id in store_ids:
        await container.vector_stores.get(owner, store_id)
        await container.vector_stores.touch(store_id)
    if not query.strip():
        raise InvalidRequest("query must not be empty", param="query")
    files = await container.vector_stores.all_files(store_ids)
    attributes = {(f.vector_store_id, f.file_id): f.attributes for f in files}
    allowed = None
    if filters is not None:
        allowed = {f.file_id for f in files if matches(filters, f.attributes)}
    embedder = await container.models.embedder(container.settings.embedding_model_id)
    embedded = await meter.embed(embedder, [query])
    vector = np.asarray(embedded.vectors[0], dtype=np.float32)
    vector /= max(float(np.linalg.norm(vector)), 1e-12)
    hits = await container.index.search(
        store_ids,
        query,
        vector,
        limit=limit,
        file_ids=allowed,
        score_threshold=score_threshold,
    )
    names: dict[str, str] = {}
    for hit in hits:
        if hit.file_id not in names:
            record = await container.files.get(owner, hit.file_id)
            names[hit.file_id] = record.filename if record is not None else hit.file_id
    return [
        Retrieved(
            vector_store_id=hit.vector_store_id,
            file_id=hit.file_id,
            filename=names[hit.file_id],
            score=hit.score,
            text=hit.text,
            location=hit.location,
            attributes=attributes.get((hit.vector_store_id, hit.file_id), {}),
        )
        for hit in hits
    ]


async def search(
    container: Container, meter: Meter, store_id: str, body: SearchRequest
) -> SearchResultsPage:
    """Search one store."""
    found = await retrieve_chunks(
        container,
        meter,
        [store_id],
        body.text(),
        limit=body.max_num_results,
        filters=body.filters.model_dump() if body.filters else None,
        score_threshold=body.ranking_options.score_threshold if body.ranking_options else None,
    )
    return SearchResultsPage(
        search_query=[body.text()],
        data=[
            SearchResult(
                file_id=r.file_id,
                filename=r.filename,
                score=r.score,
                attributes=r.attributes,
                content=[SearchContent(text=r.text)],
                location=r.location,
            )
            for r in found
        ],
    )
