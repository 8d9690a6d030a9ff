"""``/v1/vector_stores``: stores, their files, file batches, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from workhorse.api.vector_stores import service
from workhorse.api.vector_stores.schemas import (
    FileBatchCreateRequest,
    FileBatchObject,
    FileListQuery,
    ListQuery,
    SearchRequest,
    SearchResultsPage,
    VectorStoreCreateRequest,
    VectorStoreDeleted,
    VectorStoreFileCreateRequest,
    VectorStoreFileDeleted,
    VectorStoreFileList,
    VectorStoreFileObject,
    VectorStoreFileUpdateRequest,
    VectorStoreList,
    VectorStoreObject,
    VectorStoreUpdateRequest,
)
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["vector stores"], dependencies=[RequireScope(Scope.KNOWLEDGE)])


async def _create(
    container: Container, caller: Meter, body: VectorStoreCreateRequest
) -> VectorStoreObject:
    return await service.create(container, caller, body)


CREATE_VECTOR_STORE = Operation(
    name="CreateVectorStore",
    path="/v1/vector_stores",
    request=VectorStoreCreateRequest,
    response=VectorStoreObject,
    run=_create,
    scope=Scope.KNOWLEDGE,
)


@router.post(
    "/vector_stores",
    response_model=VectorStoreObject,
    openapi_extra=request_body(VectorStoreCreateRequest),
)
async def create_vector_store(
    body: Annotated[VectorStoreCreateRequest, ParsedBody(VectorStoreCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> VectorStoreObject:
    """Create a vector store; its files are queued for ingestion."""
    return await service.create(container, meter, body)


@router.get("/vector_stores", response_model=VectorStoreList)
async def list_vector_stores(
    query: Annotated[ListQuery, Query()], api_key: ApiKeyDep, container: ContainerDep
) -> VectorStoreList:
    """The caller's vector stores, newest first by default."""
    return await service.list_stores(container, api_key.project_id, query)


@router.get("/vector_stores/{store_id}", response_model=VectorStoreObject)
async def retrieve_vector_store(
    store_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> VectorStoreObject:
    """A vector store with its file counts."""
    return await service.retrieve(container, api_key.project_id, store_id)


@router.post(
    "/vector_stores/{store_id}",
    response_model=VectorStoreObject,
    openapi_extra=request_body(VectorStoreUpdateRequest),
)
async def update_vector_store(
    store_id: str,
    body: Annotated[VectorStoreUpdateRequest, ParsedBody(VectorStoreUpdateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> VectorStoreObject:
    """Rename a vector store, change its metadata or expiry."""
    return await service.update(container, api_key.project_id, store_id, body)


@router.delete("/vector_stores/{store_id}", response_model=VectorStoreDeleted)
async def delete_vector_store(
    store_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> VectorStoreDeleted:
    """Delete a vector store and its chunks (the files stay)."""
    await service.delete(container, api_key.project_id, store_id)
    return VectorStoreDeleted(id=store_id)


@router.post(
    "/vector_stores/{store_id}/files",
    response_model=VectorStoreFileObject,
    openapi_extra=request_body(VectorStoreFileCreateRequest),
)
async def add_file(
    store_id: str,
    body: Annotated[VectorStoreFileCreateRequest, ParsedBody(VectorStoreFileCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> VectorStoreFileObject:
    """Add a file to a vector store; answers at once, status ``in_progress``."""
    return await service.add_file(container, meter, store_id, body)


@router.get("/vector_stores/{store_id}/files", response_model=VectorStoreFileList)
async def list_files(
    store_id: str,
    query: Annotated[FileListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> VectorStoreFileList:
    """The store's files; ``filter`` by status."""
    return await service.list_files(container, api_key.project_id, store_id, query)


@router.get("/vector_stores/{store_id}/files/{file_id}", response_model=VectorStoreFileObject)
async def get_file(
    store_id: str, file_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> VectorStoreFileObject:
    """A file of the store: status, and ``last_error`` saying why when it failed."""
    return await service.get_file(container, api_key.project_id, store_id, file_id)


@router.post(
    "/vector_stores/{store_id}/files/{file_id}",
    response_model=VectorStoreFileObject,
    openapi_extra=request_body(VectorStoreFileUpdateRequest),
)
async def update_file(
    store_id: str,
    file_id: str,
    body: Annotated[VectorStoreFileUpdateRequest, ParsedBody(VectorStoreFileUpdateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> VectorStoreFileObject:
    """Replace a file's attributes."""
    return await service.set_attributes(
        container, api_key.project_id, store_id, file_id, body.attributes or {}
    )


@router.delete("/vector_stores/{store_id}/files/{file_id}", response_model=VectorStoreFileDeleted)
async def remove_file(
    store_id: str, file_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> VectorStoreFileDeleted:
    """Take a file out of the store (the file itself stays)."""
    await service.remove_file(container, api_key.project_id, store_id, file_id)
    return VectorStoreFileDeleted(id=file_id)


@router.post(
    "/vector_stores/{store_id}/file_batches",
    response_model=FileBatchObject,
    openapi_extra=request_body(FileBatchCreateRequest),
)
async def create_file_batch(
    store_id: str,
    body: Annotated[FileBatchCreateRequest, ParsedBody(FileBatchCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> FileBatchObject:
    """Add files together, to follow and cancel as one."""
    return await service.create_batch(container, meter, store_id, body)


@router.get("/vector_stores/{store_id}/file_batches/{batch_id}", response_model=FileBatchObject)
async def get_file_batch(
    store_id: str, batch_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FileBatchObject:
    """A batch and its file counts."""
    return await service.get_batch(container, api_key.project_id, store_id, batch_id)


@router.post(
    "/vector_stores/{store_id}/file_batches/{batch_id}/cancel", response_model=FileBatchObject
)
async def cancel_file_batch(
    store_id: str, batch_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FileBatchObject:
    """Cancel the batch's files not done yet."""
    return await service.cancel_batch(container, api_key.project_id, store_id, batch_id)


@router.get(
    "/vector_stores/{store_id}/file_batches/{batch_id}/files", response_model=VectorStoreFileList
)
async def list_batch_files(
    store_id: str,
    batch_id: str,
    query: Annotated[FileListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> VectorStoreFileList:
    """The batch's files."""
    await service.get_batch(container, api_key.project_id, store_id, batch_id)
    return await service.list_files(
        container, api_key.project_id, store_id, query, batch_id=batch_id
    )


@router.post(
    "/vector_stores/{store_id}/search",
    response_model=SearchResultsPage,
    openapi_extra=request_body(SearchRequest),
)
async def search_vector_store(
    store_id: str,
    body: Annotated[SearchRequest, ParsedBody(SearchRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> SearchResultsPage:
    """Hybrid search (vectors and words, fused by rank) over the store's chunks; the
    query's embedding counts as the key's embeddings usage."""
    return await service.search(container, meter, store_id, body)
