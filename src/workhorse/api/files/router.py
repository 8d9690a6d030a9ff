"""``/v1/files``: upload, list, retrieve, download, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from workhorse.api.files import service
from workhorse.api.files.schemas import (
    FileCreateInline,
    FileCreateRequest,
    FileDeleted,
    FileList,
    FileListQuery,
    FileObject,
)
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["files"], dependencies=[RequireScope(Scope.FILES)])


async def _create_inline(container: Container, caller: Meter, body: FileCreateInline) -> FileObject:
    return await service.create_inline(container, caller, body.filename, body.content, body.purpose)


CREATE_FILE = Operation(
    name="CreateFile",
    path="/v1/files",
    request=FileCreateInline,
    response=FileObject,
    run=_create_inline,
    scope=Scope.FILES,
)
# Far above the JSON cap: the multipart reader streams files to disk as they arrive.
UPLOAD_LIMIT = 8 * 1024**3


@router.post("/files", response_model=FileObject, openapi_extra=request_body(FileCreateRequest))
async def create_file(
    body: Annotated[
        FileCreateRequest, ParsedBody(FileCreateRequest, limit=UPLOAD_LIMIT, accept_files=True)
    ],
    meter: MeterDep,
    container: ContainerDep,
) -> FileObject:
    """Upload a file (multipart/form-data with a ``file`` part and ``purpose``)."""
    return await service.create(container, meter, body)


@router.get("/files", response_model=FileList)
async def list_files(
    query: Annotated[FileListQuery, Query()], api_key: ApiKeyDep, container: ContainerDep
) -> FileList:
    """The caller's files, newest first by default."""
    return await service.list_files(container, api_key.project_id, query)


@router.get("/files/{file_id}", response_model=FileObject)
async def retrieve_file(file_id: str, api_key: ApiKeyDep, container: ContainerDep) -> FileObject:
    """One file's metadata."""
    return service.to_object(await service.get(container, api_key.project_id, file_id))


@router.get(
    "/files/{file_id}/content",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file's bytes",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def file_content(file_id: str, api_key: ApiKeyDep, container: ContainerDep) -> FileResponse:
    """The file's bytes."""
    record = await service.get(container, api_key.project_id, file_id)
    return FileResponse(
        container.blobs.path(record.sha256),
        media_type="application/octet-stream",
        filename=record.filename,
    )


@router.delete("/files/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, api_key: ApiKeyDep, container: ContainerDep) -> FileDeleted:
    """Delete a file."""
    await service.delete(container, api_key.project_id, file_id)
    return FileDeleted(id=file_id)
