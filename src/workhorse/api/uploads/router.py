"""``/v1/uploads``: create, add a part, complete, cancel, retrieve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from workhorse.api.uploads import service
from workhorse.api.uploads.schemas import (
    MAX_PART_BYTES,
    UploadCompleteRequest,
    UploadCreateRequest,
    UploadObject,
    UploadPartObject,
    UploadPartRequest,
)
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["uploads"], dependencies=[RequireScope(Scope.FILES)])

# A part streams to disk; the body may carry it plus the multipart framing.
PART_BODY_LIMIT = MAX_PART_BYTES + 1024 * 1024


async def _create(container: Container, caller: Meter, body: UploadCreateRequest) -> UploadObject:
    return await service.create(container, caller.project_id, body)


CREATE_UPLOAD = Operation(
    name="CreateUpload",
    path="/v1/uploads",
    request=UploadCreateRequest,
    response=UploadObject,
    run=_create,
    scope=Scope.FILES,
)


@router.post(
    "/uploads", response_model=UploadObject, openapi_extra=request_body(UploadCreateRequest)
)
async def create_upload(
    body: Annotated[UploadCreateRequest, ParsedBody(UploadCreateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> UploadObject:
    """Start an upload of ``bytes`` bytes; it takes parts until it expires."""
    return await service.create(container, api_key.project_id, body)


@router.post(
    "/uploads/{upload_id}/parts",
    response_model=UploadPartObject,
    openapi_extra=request_body(UploadPartRequest),
)
async def add_upload_part(
    upload_id: str,
    body: Annotated[
        UploadPartRequest, ParsedBody(UploadPartRequest, limit=PART_BODY_LIMIT, accept_files=True)
    ],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> UploadPartObject:
    """Add a part (multipart/form-data with a ``data`` file part, at most 64 MiB)."""
    return await service.add_part(container, api_key.project_id, upload_id, body.data)


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=UploadObject,
    openapi_extra=request_body(UploadCompleteRequest),
)
async def complete_upload(
    upload_id: str,
    body: Annotated[UploadCompleteRequest, ParsedBody(UploadCompleteRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> UploadObject:
    """Assemble the listed parts, in that order, into a File."""
    return await service.complete(container, meter.project_id, upload_id, body, meter)


@router.post("/uploads/{upload_id}/cancel", response_model=UploadObject)
async def cancel_upload(
    upload_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> UploadObject:
    """Cancel a pending upload; its parts are deleted."""
    return await service.cancel(container, api_key.project_id, upload_id)


@router.get("/uploads/{upload_id}", response_model=UploadObject)
async def retrieve_upload(
    upload_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> UploadObject:
    """The upload as it stands (not in OpenAI's API; for convenience)."""
    return await service.get(container, api_key.project_id, upload_id)
