"""``/v1/admin``: projects and API keys, for admin keys only.

Creating and rotating a key answer with its secret, this once; their stored replays
(Idempotency-Key) are sealed (``http.sealing``) so the database never holds a secret.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from workhorse.api.admin import service
from workhorse.api.admin.schemas import (
    ApiKeyCreated,
    ApiKeyCreateRequest,
    ApiKeyDeleted,
    ApiKeyList,
    ApiKeyObject,
    ApiKeyRotateRequest,
    ApiKeyUpdateRequest,
    ProjectCreateRequest,
    ProjectList,
    ProjectObject,
    ProjectUpdateRequest,
)
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation
from workhorse.http.sealing import seal_replay

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[RequireScope(Scope.ADMIN)])
Sealed = [Depends(seal_replay)]


async def _create_project(
    container: Container, caller: Meter, body: ProjectCreateRequest
) -> ProjectObject:
    return await service.create_project(container, body)


async def _create_key(
    container: Container, caller: Meter, body: ApiKeyCreateRequest
) -> ApiKeyCreated:
    return await service.create_key(container, body)


CREATE_PROJECT = Operation(
    name="CreateProject",
    path="/v1/admin/projects",
    request=ProjectCreateRequest,
    response=ProjectObject,
    run=_create_project,
    scope=Scope.ADMIN,
)
CREATE_API_KEY = Operation(
    name="CreateApiKey",
    path="/v1/admin/keys",
    request=ApiKeyCreateRequest,
    response=ApiKeyCreated,
    run=_create_key,
    scope=Scope.ADMIN,
    seals_replay=True,
)


@router.post(
    "/projects", response_model=ProjectObject, openapi_extra=request_body(ProjectCreateRequest)
)
async def create_project(
    body: Annotated[ProjectCreateRequest, ParsedBody(ProjectCreateRequest)],
    container: ContainerDep,
) -> ProjectObject:
    """Create a project; give it keys with ``POST /v1/admin/keys``."""
    return await service.create_project(container, body)


@router.get("/projects", response_model=ProjectList)
async def list_projects(
    container: ContainerDep,
    include_archived: Annotated[bool, Query(description="Archived projects too")] = False,
) -> ProjectList:
    """Projects, oldest first."""
    records = await container.projects.all(include_archived=include_archived)
    return ProjectList(data=[service.project_object(r) for r in records])


@router.get("/projects/{project_id}", response_model=ProjectObject)
async def retrieve_project(project_id: str, container: ContainerDep) -> ProjectObject:
    """One project."""
    return service.project_object(await container.projects.get(project_id))


@router.post(
    "/projects/{project_id}",
    response_model=ProjectObject,
    openapi_extra=request_body(ProjectUpdateRequest),
)
async def update_project(
    project_id: str,
    body: Annotated[ProjectUpdateRequest, ParsedBody(ProjectUpdateRequest)],
    container: ContainerDep,
) -> ProjectObject:
    """Rename a project or set its limits (every replica applies them within the auth
    cache interval)."""
    return await service.update_project(container, project_id, body)


@router.post("/projects/{project_id}/archive", response_model=ProjectObject)
async def archive_project(project_id: str, container: ContainerDep) -> ProjectObject:
    """Archive a project: its keys stop working at once; its resources are kept."""
    return service.project_object(await container.projects.archive(project_id))


@router.post(
    "/keys",
    response_model=ApiKeyCreated,
    openapi_extra=request_body(ApiKeyCreateRequest),
    dependencies=Sealed,
)
async def create_key(
    body: Annotated[ApiKeyCreateRequest, ParsedBody(ApiKeyCreateRequest)],
    container: ContainerDep,
) -> ApiKeyCreated:
    """Create a key; ``key`` in the answer is its secret, shown this once."""
    return await service.create_key(container, body)


@router.get("/keys", response_model=ApiKeyList)
async def list_keys(
    container: ContainerDep,
    project_id: Annotated[str | None, Query(description="Only this project's keys")] = None,
) -> ApiKeyList:
    """Keys, oldest first, revoked ones included (never their secrets)."""
    return ApiKeyList(data=[service.key_object(r) for r in await container.keys.all(project_id)])


@router.get("/keys/{key_id}", response_model=ApiKeyObject)
async def retrieve_key(key_id: str, container: ContainerDep) -> ApiKeyObject:
    """One key."""
    return service.key_object(await container.keys.get(key_id))


@router.post(
    "/keys/{key_id}", response_model=ApiKeyObject, openapi_extra=request_body(ApiKeyUpdateRequest)
)
async def update_key(
    key_id: str,
    body: Annotated[ApiKeyUpdateRequest, ParsedBody(ApiKeyUpdateRequest)],
    container: ContainerDep,
) -> ApiKeyObject:
    """Change a key's name, scopes, models or expiry; its secret stays the same."""
    return await service.update_key(container, key_id, body)


@router.post(
    "/keys/{key_id}/rotate",
    response_model=ApiKeyCreated,
    openapi_extra=request_body(ApiKeyRotateRequest),
    dependencies=Sealed,
)
async def rotate_key(
    key_id: str,
    body: Annotated[ApiKeyRotateRequest, ParsedBody(ApiKeyRotateRequest)],
    container: ContainerDep,
) -> ApiKeyCreated:
    """A new secret for the key (``key``, shown this once); the old one works for
    ``grace_period_seconds`` more."""
    record, secret = await container.keys.rotate(key_id, body.grace_period_seconds)
    return service.created_object(record, secret)


@router.delete("/keys/{key_id}", response_model=ApiKeyDeleted)
async def revoke_key(key_id: str, container: ContainerDep) -> ApiKeyDeleted:
    """Revoke a key: refused at once here, and on every replica within the auth cache
    interval. Its record stays, revoked."""
    await container.keys.revoke_id(key_id)
    return ApiKeyDeleted(id=key_id)
