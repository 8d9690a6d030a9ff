"""``/v1/fine_tuning/jobs``: create, list, retrieve, events, checkpoints, cancel, pause,
resume."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from workhorse.api.fine_tuning import service
from workhorse.api.fine_tuning.schemas import (
    FineTuningJobCheckpointList,
    FineTuningJobCreateRequest,
    FineTuningJobEventList,
    FineTuningJobList,
    FineTuningJobObject,
)
from workhorse.api.shared import Cursor
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["fine-tuning"], dependencies=[RequireScope(Scope.FINE_TUNING)])

Limit = Annotated[int, Query(ge=1, le=100)]


async def _create(
    container: Container, caller: Meter, body: FineTuningJobCreateRequest
) -> FineTuningJobObject:
    return await service.create(container, caller, body)


CREATE_FINE_TUNING_JOB = Operation(
    name="CreateFineTuningJob",
    path="/v1/fine_tuning/jobs",
    request=FineTuningJobCreateRequest,
    response=FineTuningJobObject,
    run=_create,
    scope=Scope.FINE_TUNING,
)


@router.post(
    "/fine_tuning/jobs",
    response_model=FineTuningJobObject,
    openapi_extra=request_body(FineTuningJobCreateRequest),
)
async def create_job(
    body: Annotated[FineTuningJobCreateRequest, ParsedBody(FineTuningJobCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> FineTuningJobObject:
    """Queue a LoRA fine-tuning job of a local model on a ``fine-tune`` JSONL file."""
    return await service.create(container, meter, body)


@router.get("/fine_tuning/jobs", response_model=FineTuningJobList)
async def list_jobs(
    request: Request,
    api_key: ApiKeyDep,
    container: ContainerDep,
    after: Cursor = None,
    limit: Limit = 20,
) -> FineTuningJobList:
    """The caller's jobs, newest first; ``metadata[k]=v`` keeps those whose metadata match."""
    metadata = {
        key[len("metadata[") : -1]: value
        for key, value in request.query_params.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    return await service.list_jobs(
        container, api_key.project_id, after=after, limit=limit, metadata=metadata or None
    )


@router.get("/fine_tuning/jobs/{job_id}", response_model=FineTuningJobObject)
async def retrieve_job(
    job_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FineTuningJobObject:
    """A job as it stands."""
    return await service.retrieve(container, api_key.project_id, job_id)


@router.get("/fine_tuning/jobs/{job_id}/events", response_model=FineTuningJobEventList)
async def list_events(
    job_id: str,
    api_key: ApiKeyDep,
    container: ContainerDep,
    after: Cursor = None,
    limit: Limit = 20,
) -> FineTuningJobEventList:
    """The job's events, newest first, with each step's metrics."""
    return await service.events(container, api_key.project_id, job_id, after=after, limit=limit)


@router.get("/fine_tuning/jobs/{job_id}/checkpoints", response_model=FineTuningJobCheckpointList)
async def list_checkpoints(
    job_id: str,
    api_key: ApiKeyDep,
    container: ContainerDep,
    after: Cursor = None,
    limit: Limit = 10,
) -> FineTuningJobCheckpointList:
    """The job's checkpoints, one per epoch, newest first."""
    return await service.checkpoints(
        container, api_key.project_id, job_id, after=after, limit=limit
    )


@router.post("/fine_tuning/jobs/{job_id}/cancel", response_model=FineTuningJobObject)
async def cancel_job(
    job_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FineTuningJobObject:
    """Cancel the job; a running one stops within about a second."""
    return await service.cancel(container, api_key.project_id, job_id)


@router.post("/fine_tuning/jobs/{job_id}/pause", response_model=FineTuningJobObject)
async def pause_job(
    job_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FineTuningJobObject:
    """Pause the job; it saves where it stands and can be resumed."""
    return await service.pause(container, api_key.project_id, job_id)


@router.post("/fine_tuning/jobs/{job_id}/resume", response_model=FineTuningJobObject)
async def resume_job(
    job_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FineTuningJobObject:
    """Resume a paused job from where it was paused."""
    return await service.resume(container, api_key.project_id, job_id)
